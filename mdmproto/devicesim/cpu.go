package devicesim

import (
	"context"
	"syscall"
	"time"
)

// cpuSample is the CPU time used so far by the server (zero when not read)
// and by this process, whose work is the simulated devices'.
type cpuSample struct{ server, devices time.Duration }

func sampleCPU(ctx context.Context, cfg LoadConfig) cpuSample {
	var s cpuSample
	if cfg.ServerCPU != nil {
		// A failed read leaves the server's share unmeasured, not the run failed.
		s.server, _ = cfg.ServerCPU(ctx)
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.devices = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s
}

// since is the CPU used from before to s; the server's is zero unless both
// samples read it.
func (s cpuSample) since(before cpuSample) (server, devices time.Duration) {
	if s.server > 0 && before.server > 0 {
		server = s.server - before.server
	}
	return server, s.devices - before.devices
}
