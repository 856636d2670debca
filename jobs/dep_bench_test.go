package jobs_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/store"
)

// BenchmarkDEPFullSync100k is a full sync of 100,000 devices from an
// in-process depsim into PostgreSQL through the River job: 100 pages of
// 1,000 devices, each upserted with its cursor in one transaction.
//
//	go test -run '^$' -bench DEPFullSync -benchtime 1x ./jobs/
//
// peak-rss-MB is the whole test process (simulator included).
func BenchmarkDEPFullSync100k(b *testing.B) {
	const devices = 100_000
	for range b.N {
		b.StopTimer()
		e := newDEPEnv(b, devices)
		b.StartTimer()
		start := time.Now()
		job := e.sync(false)
		elapsed := time.Since(start)
		b.StopTimer()
		if n := e.count(store.DEPDeviceFilter{}); n != devices {
			b.Fatalf("%d devices stored (job %s %v)", n, job.State, job.Errors)
		}
		b.ReportMetric(devices/elapsed.Seconds(), "devices/s")
		b.ReportMetric(elapsed.Seconds(), "sync-s")
	}
	b.ReportMetric(peakRSSMB(), "peak-rss-MB")
}

// peakRSSMB reads the process's high-water resident set size (Linux).
func peakRSSMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
