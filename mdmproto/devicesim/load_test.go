package devicesim_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/devicesim"
	"github.com/orchardmdm/orchard/mdmproto/endpoint"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// flaky breaks connections the way a restarting server or a lossy network
// does: some requests are dropped before the server sees them, and some
// command reports after it handled them, so the answer is lost.
type flaky struct {
	next http.Handler
	n    atomic.Int64
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.n.Add(1)
	switch {
	case n%4 == 1:
		drop(w)
	case n%4 == 3 && r.URL.Path == endpoint.ServerPath:
		f.next.ServeHTTP(httptest.NewRecorder(), r)
		drop(w)
	default:
		f.next.ServeHTTP(w, r)
	}
}

// drop closes the connection without an answer: the client reads EOF.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestLoadRetriesBrokenConnections: a load run survives connections that
// break before or after the server handled a request, counts its retries,
// and every command is still answered exactly once.
func TestLoadRetriesBrokenConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	ca, err := endpoint.LoadCA(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	ep, err := endpoint.New(endpoint.Config{Devices: service.New(service.Config{Store: s}), CA: ca, PublicURL: srv.URL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.next = ep.Handler()
	enr, err := s.CreateEnrollment(ctx, store.NewEnrollment{Name: "load"})
	if err != nil {
		t.Fatal(err)
	}
	// Each request on a new connection: a dropped one never poisons the next.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}

	phases, err := devicesim.RunLoad(ctx, devicesim.LoadConfig{
		EnrollURL: srv.URL + "/enroll/" + enr.Secret, Devices: 4, Rounds: 2, Concurrency: 2, Client: client,
		RetryBackoff: time.Millisecond, Enqueue: func(ctx context.Context, udids []string) error { return enqueue(ctx, s, udids) },
	}, io.Discard)
	if err != nil {
		t.Fatalf("load run: %v", err)
	}
	var retries int64
	for _, p := range phases {
		retries += p.Retries
	}
	if retries == 0 || !strings.Contains(phases[0].String(), "retries") {
		t.Errorf("%d retries counted, want some: %v", retries, phases)
	}
	var answered, total int
	err = s.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'Acknowledged'), count(*) FROM mdm_device_commands
		WHERE queued_by <> 'orchard:inventory'`).Scan(&answered, &total)
	if err != nil || total != 8 || answered != total {
		t.Fatalf("%d of %d commands acknowledged (%v), want 8 of 8", answered, total, err)
	}
}

func enqueue(ctx context.Context, s *store.Store, udids []string) error {
	return s.Tx(ctx, func(q *store.Queries) error {
		for _, u := range udids {
			list, _, err := q.ListDevices(ctx, store.DeviceFilter{UDID: u}, store.Page{First: 1})
			if err != nil || len(list) != 1 {
				return err
			}
			uuid, body, err := mdmproto.NewCommand("DeviceInformation", nil)
			if err != nil {
				return err
			}
			if _, err := q.EnqueueCommand(ctx, list[0].ID, uuid, "DeviceInformation", body, "test"); err != nil {
				return err
			}
		}
		return nil
	})
}
