package endpoint_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/orchardmdm/orchard/mdmproto/devicesim"
	"github.com/orchardmdm/orchard/mdmproto/endpoint"
	"github.com/orchardmdm/orchard/mdmproto/scep"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// testServer is the device-facing endpoint on a fresh database.
type testServer struct {
	t     *testing.T
	store *store.Store
	ca    *scep.CA
	ep    *endpoint.Endpoint
	srv   *httptest.Server
	// enrollURL is the profile URL of an OTA enrollment.
	enrollURL string
	enr       store.Enrollment
}

func newServer(t *testing.T, mutate ...func(*endpoint.Config)) *testServer {
	t.Helper()
	ctx := context.Background()
	s := pgtest.New(t)
	ca, err := endpoint.LoadCA(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cfg := endpoint.Config{Store: s, CA: ca, PublicURL: srv.URL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, m := range mutate {
		m(&cfg)
	}
	ep, err := endpoint.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h = ep.Handler()
	enr, err := s.CreateEnrollment(ctx, store.NewEnrollment{Name: "Test"})
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{t: t, store: s, ca: ca, ep: ep, srv: srv, enr: enr, enrollURL: srv.URL + "/enroll/" + enr.Secret}
}

// enrolled returns a simulated device that went through enrollment.
func (ts *testServer) enrolled() *devicesim.Device {
	ts.t.Helper()
	d := ts.device()
	if err := d.Enroll(context.Background(), ts.enrollURL); err != nil {
		ts.t.Fatal(err)
	}
	return d
}

func (ts *testServer) device() *devicesim.Device {
	ts.t.Helper()
	d, err := devicesim.New(ts.srv.Client())
	if err != nil {
		ts.t.Fatal(err)
	}
	return d
}

func (ts *testServer) deviceRow(udid string) store.Device {
	ts.t.Helper()
	list, _, err := ts.store.ListDevices(context.Background(), store.DeviceFilter{UDID: udid}, store.Page{First: 1})
	if err != nil {
		ts.t.Fatal(err)
	}
	if len(list) != 1 {
		ts.t.Fatalf("device %s: %d rows", udid, len(list))
	}
	return list[0]
}
