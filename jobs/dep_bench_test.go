package jobs_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto/apns/apnstest"
	"github.com/orchardmdm/orchard/store"
)

// BenchmarkDEPFullSync100k is a full sync of 100,000 devices through the
// River job: 100 pages of 1,000 devices, each upserted with its cursor in one
// transaction. The simulator is `orchard depsim` in its own process, so the
// measured process is orchard's sync alone: peak-rss-MB is its high-water
// resident set, cpu-s the CPU it spent on the sync (user and system), and
// pg-cpu-s the CPU of the test database's PostgreSQL backends meanwhile (the
// test cluster runs on this machine): on a shared machine, CPU is steadier
// than seconds.
//
//	go test -run '^$' -bench DEPFullSync -benchtime 1x ./jobs/
func BenchmarkDEPFullSync100k(b *testing.B) {
	const devices = 100_000
	b.StopTimer()
	url, token := startDepsimProcess(b, devices)
	var elapsed, cpu, pgCPU time.Duration
	for range b.N {
		e := &depEnv{t: b}
		e.start(url, token)
		cpuBefore, pgBefore, start := apnstest.ProcessCPU(), e.backendsCPU(), time.Now()
		b.StartTimer()
		job := e.sync(false)
		b.StopTimer()
		elapsed, cpu = elapsed+time.Since(start), cpu+apnstest.ProcessCPU()-cpuBefore
		for pid, t := range e.backendsCPU() {
			pgCPU += t - pgBefore[pid]
		}
		if n := e.count(store.DEPDeviceFilter{}); n != devices {
			b.Fatalf("%d devices stored (job %s %v)", n, job.State, job.Errors)
		}
	}
	b.ReportMetric(float64(devices*b.N)/elapsed.Seconds(), "devices/s")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "sync-s")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s")
	b.ReportMetric(pgCPU.Seconds()/float64(b.N), "pg-cpu-s")
	b.ReportMetric(peakRSSMB(), "peak-rss-MB")
}

var depsimServing = regexp.MustCompile(`depsim serving \d+ devices at (http://\S+)`)

// startDepsimProcess builds orchard and runs `orchard depsim` with devices
// until the benchmark ends; it returns the simulator's URL and its token.
func startDepsimProcess(b *testing.B, devices int) (string, []byte) {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "orchard")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/orchardmdm/orchard/cmd/orchard").CombinedOutput(); err != nil {
		b.Fatalf("build orchard: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "depsim", "--listen", "127.0.0.1:0", "--devices", strconv.Itoa(devices))
	stdout, err := cmd.StdoutPipe()
	check(b, err)
	stderr, err := cmd.StderrPipe()
	check(b, err)
	check(b, cmd.Start())
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	token, err := bufio.NewReader(stdout).ReadBytes('\n')
	check(b, err)
	go io.Copy(io.Discard, stdout)
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := depsimServing.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stderr)
			return m[1], token
		}
	}
	b.Fatalf("orchard depsim never said where it serves: %v", sc.Err())
	return "", nil
}

// backendsCPU is the CPU each backend of the env's database has used so
// far, by process id, read from /proc.
func (e *depEnv) backendsCPU() map[int32]time.Duration {
	rows, err := e.store.Pool().Query(context.Background(),
		"SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	check(e.t, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	check(e.t, err)
	out := make(map[int32]time.Duration, len(pids))
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// utime and stime are fields 14 and 15, after the parenthesised name.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		out[pid] = time.Duration(utime+stime) * time.Second / clockTicks
	}
	return out
}

// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat times.
const clockTicks = 100

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
