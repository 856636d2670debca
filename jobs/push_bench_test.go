package jobs_test

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/apns"
	"github.com/orchardmdm/orchard/mdmproto/apns/apnstest"
)

// TestMain lets the test binary double as the mock APNs process.
func TestMain(m *testing.M) {
	apnstest.ServeProcessIfAsked()
	os.Exit(m.Run())
}

// BenchmarkPush10000Devices measures pushes/s through the whole path: one
// transaction queues pushes to 10,000 devices, River works the jobs, the
// devices are claimed in PostgreSQL and pushed over HTTP/2 + TLS to the mock
// APNs in a separate process. Only River, the push job and the client run in
// this process, so its CPU time and allocations per device are their cost,
// and the job's own store counts the statements it sends per job.
//
//	go test -run '^$' -bench Push10000 -benchtime 5x ./jobs/
func BenchmarkPush10000Devices(b *testing.B) {
	const devices = 10000
	env, mock, statements := newPushBenchEnv(b)
	ids := env.addDevices(devices)
	ctx := context.Background()
	var elapsed, pushing, cpu, mockCPU time.Duration
	var allocs uint64
	rounds, sql := 0, 0
	for b.Loop() {
		b.StopTimer()
		mustTB(b, mock.Reset())
		_, err := env.store.Pool().Exec(ctx, "UPDATE enrolled_devices SET last_notified_at = NULL")
		mustTB(b, err)
		statements.reset()
		m := startMeter(mock)
		b.StartTimer()
		st := waitForPushes(b, mock, devices, env.enqueue, ids)
		b.StopTimer()
		env.settle(time.Minute)
		used := m.stop(mock)
		sql += statements.total()
		cpu, allocs, mockCPU = cpu+used.cpu, allocs+used.allocs, mockCPU+used.mockCPU
		elapsed += st.Last.Sub(m.start)
		pushing += st.Last.Sub(st.First)
		rounds++
		b.StartTimer()
	}
	n := float64(devices * rounds)
	b.ReportMetric(n/elapsed.Seconds(), "pushes/s")
	b.ReportMetric(n/pushing.Seconds(), "pushing-pushes/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/device")
	b.ReportMetric(float64(allocs)/n, "allocs/device")
	b.ReportMetric(float64(mockCPU.Nanoseconds())/n, "mock-cpu-ns/device")
	jobsRun := float64(rounds * ((devices + jobargs.PushChunk - 1) / jobargs.PushChunk))
	b.ReportMetric(float64(sql)/jobsRun, "sql/job")
	b.Logf("statements of the last round's push jobs (%d devices each): %s", jobargs.PushChunk, statements)
}

// newPushBenchEnv is newPushEnv with the mock APNs in a separate process and
// a push job store whose statements are counted.
func newPushBenchEnv(b *testing.B) (*pushEnv, *apnstest.Process, *statementCounter) {
	b.Helper()
	riverStore, jobStore, statements := newCountingStores(b)
	pc := addPushCert(b, riverStore)
	mock := apnstest.StartProcess(b, pushTopic, pc.Cert)
	client := apns.New(apns.Config{URL: mock.URL(), RootCAs: mock.RootCAs(), Concurrency: 200})
	b.Cleanup(client.Close)
	rc := startPushWorkers(b, riverStore, jobStore, client, jobs.PushConfig{Window: time.Millisecond})
	return &pushEnv{t: b, store: riverStore, river: rc}, mock, statements
}

// waitForPushes queues pushes to ids and polls the mock until it has n.
func waitForPushes(b *testing.B, mock *apnstest.Process, n int, enqueue func(...int64), ids []int64) apnstest.Stats {
	b.Helper()
	start := time.Now()
	enqueue(ids...)
	for {
		st, err := mock.Stats()
		mustTB(b, err)
		if st.Violations > 0 {
			b.Fatalf("the mock refused %d malformed pushes", st.Violations)
		}
		if st.Count >= n {
			return st
		}
		if time.Since(start) > time.Minute {
			b.Fatalf("only %d of %d pushes after a minute", st.Count, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// meter reads what this process and the mock used over a round.
type meter struct {
	start   time.Time
	cpu     time.Duration
	mockCPU time.Duration
	mallocs uint64
}

type usage struct {
	cpu, mockCPU time.Duration
	allocs       uint64
}

func startMeter(mock *apnstest.Process) meter {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st, _ := mock.Stats()
	return meter{start: time.Now(), cpu: apnstest.ProcessCPU(), mockCPU: st.CPU, mallocs: ms.Mallocs}
}

func (m meter) stop(mock *apnstest.Process) usage {
	cpu := apnstest.ProcessCPU()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st, _ := mock.Stats()
	return usage{cpu: cpu - m.cpu, mockCPU: st.CPU - m.mockCPU, allocs: ms.Mallocs - m.mallocs}
}
