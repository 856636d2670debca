package store_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orchardmdm/orchard/store/pgtest"
)

func TestIdentityCollectorCountsExpiringAndExpiredDevices(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	_, err := s.Pool().Exec(context.Background(), `INSERT INTO enrolled_devices
		(udid, cert_not_valid_after, authenticated_at, checkout_at, blocked_at) VALUES
		('soon-1', now() + interval '2 days', now(), NULL, NULL),
		('soon-2', now() + interval '29 days', now(), NULL, NULL),
		('later', now() + interval '200 days', now(), NULL, NULL),
		('gone', now() - interval '1 day', now(), NULL, NULL),
		('checked-out', now() + interval '2 days', now(), now(), NULL),
		('blocked', now() + interval '2 days', now(), NULL, now()),
		('never-authenticated', now() + interval '2 days', NULL, NULL, NULL)`)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.IdentityCollector(slog.New(slog.NewTextHandler(io.Discard, nil))))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		got[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
	}
	if got["orchard_devices_identity_expiring"] != 2 || got["orchard_devices_identity_expired"] != 1 {
		t.Fatalf("gauges %v, want 2 expiring within 30 days and 1 expired", got)
	}
}

// With no job at all, the queue depth still reports every state (as 0), so
// alerts and dashboards have the series from the start.
func TestJobQueueDepthReportsEveryStateFromTheStart(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.JobQueueCollector(slog.New(slog.NewTextHandler(io.Discard, nil))))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != 1 || len(families[0].GetMetric()) != 5 {
		t.Fatalf("queue depth series on an empty queue: %v", families)
	}
	for _, m := range families[0].GetMetric() {
		if m.GetGauge().GetValue() != 0 {
			t.Fatalf("an empty queue reports %v", m)
		}
	}
}
