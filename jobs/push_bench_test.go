package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/jobs"
)

// BenchmarkPush10000Devices measures pushes/s through the whole path: one
// transaction queues pushes to 10,000 devices, River works the jobs, the
// devices are claimed in PostgreSQL and pushed over HTTP/2 to the local mock.
//
//	go test -run '^$' -bench Push10000 -benchtime 5x ./jobs/
func BenchmarkPush10000Devices(b *testing.B) {
	const devices = 10000
	env := newPushEnv(b, jobs.PushConfig{Window: time.Millisecond}, 200)
	ids := env.addDevices(devices)
	ctx := context.Background()
	// elapsed runs from the transaction to the last push; pushing from the
	// first push to the last, without the time River takes to start the jobs.
	var elapsed, pushing time.Duration
	rounds := 0
	for b.Loop() {
		b.StopTimer()
		env.apns.Reset()
		_, err := env.store.Pool().Exec(ctx, "UPDATE enrolled_devices SET last_notified_at = NULL")
		mustTB(b, err)
		b.StartTimer()
		start := time.Now()
		env.enqueue(ids...)
		for env.apns.Count() < devices {
			if time.Since(start) > time.Minute {
				b.Fatalf("only %d of %d pushes after a minute", env.apns.Count(), devices)
			}
			time.Sleep(2 * time.Millisecond)
		}
		elapsed += time.Since(start)
		p := env.apns.Pushes()
		pushing += p[len(p)-1].At.Sub(p[0].At)
		rounds++
		b.StopTimer()
		env.settle(time.Minute)
		b.StartTimer()
	}
	if v := env.apns.Violations(); len(v) > 0 {
		b.Fatalf("malformed pushes: %v", v[:1])
	}
	b.ReportMetric(float64(devices*rounds)/elapsed.Seconds(), "pushes/s")
	b.ReportMetric(float64(devices*rounds)/pushing.Seconds(), "pushing-pushes/s")
}
