package devicesim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// LoadConfig shapes a load run against a server.
type LoadConfig struct {
	EnrollURL   string
	Devices     int
	Rounds      int
	Concurrency int
	Client      *http.Client
	// MaxRetries and RetryBackoff shape how device requests that fail for
	// want of a connection (EOF, reset, refused) are sent again: at most
	// MaxRetries times, waiting RetryBackoff and twice as long each time.
	// Zero means DefaultMaxRetries and DefaultRetryBackoff.
	MaxRetries   int
	RetryBackoff time.Duration
	// Enqueue queues one command for each device (by UDID) before a
	// with-command round; nil skips those rounds.
	Enqueue func(ctx context.Context, udids []string) error
	// ServerCPU reads the CPU time the server has used so far, so each
	// phase tells the server's cost per connect apart from the simulated
	// devices' (whose RSA signatures dominate when both share a machine);
	// nil: not measured.
	ServerCPU func(ctx context.Context) (time.Duration, error)
}

// Phase is the measure of one kind of connection.
type Phase struct {
	Name     string
	Connects int
	Elapsed  time.Duration
	// Retries counts requests sent again after a transient error.
	Retries   int64
	Latencies []time.Duration
	// ServerCPU and DeviceCPU are the CPU time the server (when
	// LoadConfig.ServerCPU reads it) and the simulated devices used.
	ServerCPU, DeviceCPU time.Duration
}

// Rate is connects per second.
func (p Phase) Rate() float64 { return float64(p.Connects) / p.Elapsed.Seconds() }

// Percentile of connect latency, q in [0, 1].
func (p Phase) Percentile(q float64) time.Duration {
	if len(p.Latencies) == 0 {
		return 0
	}
	s := slices.Clone(p.Latencies)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func (p Phase) String() string {
	s := fmt.Sprintf("%-13s %6d connects in %7.2fs = %8.1f connects/s  latency p50 %v  p95 %v  p99 %v  retries %d",
		p.Name+":", p.Connects, p.Elapsed.Seconds(), p.Rate(),
		p.Percentile(0.50).Round(10*time.Microsecond), p.Percentile(0.95).Round(10*time.Microsecond),
		p.Percentile(0.99).Round(10*time.Microsecond), p.Retries)
	if p.Connects > 0 && p.ServerCPU > 0 {
		s += fmt.Sprintf("  server CPU %v/connect", (p.ServerCPU / time.Duration(p.Connects)).Round(time.Microsecond))
	}
	if p.Connects > 0 && p.DeviceCPU > 0 {
		s += fmt.Sprintf("  devices' CPU %v/connect", (p.DeviceCPU / time.Duration(p.Connects)).Round(time.Microsecond))
	}
	return s
}

// RunLoad enrolls the devices, then measures Idle connects (nothing queued)
// and connects that fetch and acknowledge one command. Progress goes to log.
func RunLoad(ctx context.Context, cfg LoadConfig, log io.Writer) ([]Phase, error) {
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	client, retry := retrying(cfg)
	devices := make([]*Device, cfg.Devices)
	enroll, err := parallel(ctx, cfg, "enroll", cfg.Devices, func(i int) error {
		d, err := New(client)
		if err != nil {
			return err
		}
		devices[i] = d
		return d.Enroll(ctx, cfg.EnrollURL)
	})
	enroll.Retries = retry.retries.Swap(0)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	fmt.Fprintf(log, "enrolled %d devices in %.2fs\n", cfg.Devices, enroll.Elapsed.Seconds())
	phases := []Phase{enroll}
	// A server may queue a first inventory at enrollment: answer it before
	// the idle rounds, which expect empty queues.
	first, err := connectAll(ctx, cfg, "first inventory", devices, -1)
	first.Retries = retry.retries.Swap(0)
	if err != nil {
		return phases, err
	}
	phases = append(phases, first)

	idle := Phase{Name: "idle"}
	for range cfg.Rounds {
		p, err := connectAll(ctx, cfg, "idle", devices, 0)
		p.Retries = retry.retries.Swap(0)
		if err != nil {
			return phases, err
		}
		idle = merge(idle, p)
	}
	phases = append(phases, idle)
	if cfg.Enqueue == nil {
		return phases, nil
	}
	udids := make([]string, len(devices))
	for i, d := range devices {
		udids[i] = d.UDID
	}
	cmd := Phase{Name: "with command"}
	for range cfg.Rounds {
		if err := cfg.Enqueue(ctx, udids); err != nil {
			return phases, fmt.Errorf("enqueue: %w", err)
		}
		p, err := connectAll(ctx, cfg, "with command", devices, 1)
		p.Retries = retry.retries.Swap(0)
		if err != nil {
			return phases, err
		}
		cmd = merge(cmd, p)
	}
	return append(phases, cmd), nil
}

// connectAll connects every device once; each must answer want commands
// (any number when want is negative).
func connectAll(ctx context.Context, cfg LoadConfig, name string, devices []*Device, want int) (Phase, error) {
	return parallel(ctx, cfg, name, len(devices), func(i int) error {
		n, err := devices[i].Connect(ctx)
		if err == nil && want >= 0 && n != want {
			err = fmt.Errorf("device %s answered %d commands, want %d", devices[i].UDID, n, want)
		}
		return err
	})
}

// parallel runs fn for 0..n-1 on cfg.Concurrency workers, timing each call
// and measuring the CPU used.
func parallel(ctx context.Context, cfg LoadConfig, name string, n int, fn func(i int) error) (Phase, error) {
	p := Phase{Name: name, Connects: n, Latencies: make([]time.Duration, n)}
	before := sampleCPU(ctx, cfg)
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	start := time.Now()
	for range cfg.Concurrency {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				err := fn(i)
				p.Latencies[i] = time.Since(t0)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	p.Elapsed = time.Since(start)
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	p.ServerCPU, p.DeviceCPU = sampleCPU(ctx, cfg).since(before)
	return p, firstErr
}

func merge(a, b Phase) Phase {
	a.Connects += b.Connects
	a.Elapsed += b.Elapsed
	a.ServerCPU += b.ServerCPU
	a.DeviceCPU += b.DeviceCPU
	a.Retries += b.Retries
	a.Latencies = append(a.Latencies, b.Latencies...)
	return a
}

// retrying is cfg.Client sending device requests again after transient errors.
func retrying(cfg LoadConfig) (*http.Client, *retryTransport) {
	base := http.DefaultClient
	if cfg.Client != nil {
		base = cfg.Client
	}
	rt := newRetryTransport(base.Transport, cfg.MaxRetries, cfg.RetryBackoff)
	client := *base
	client.Transport = rt
	return &client, rt
}
