package service_test

import (
	"context"
	"testing"
)

// BenchmarkInventoryRun10k: one inventory run over 10,000 due devices
// (claim, 20,000 commands by COPY, their events, audit and push jobs).
func BenchmarkInventoryRun10k(b *testing.B) {
	ctx := context.Background()
	t := &testing.T{}
	svc, s := newService(t)
	for b.Loop() {
		b.StopTimer()
		_, err := s.Pool().Exec(ctx, `TRUNCATE mdm_device_commands;
			DELETE FROM enrolled_devices;
			INSERT INTO enrolled_devices (udid, platform, token_updated, authenticated_at)
			SELECT 'BENCH-' || g, 'macOS', true, now() FROM generate_series(1, 10000) g`)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		run, err := svc.RequestInventory(ctx)
		if err != nil || run.Devices != 10000 || run.Commands != 20000 {
			b.Fatalf("run = %+v, %v", run, err)
		}
	}
}
