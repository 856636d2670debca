package endpoint_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/orchardmdm/orchard/mdmproto/devicesim"
	"github.com/orchardmdm/orchard/mdmproto/endpoint"
	"github.com/orchardmdm/orchard/mdmproto/scep"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// testServer is the device-facing endpoint on a fresh database.
type testServer struct {
	svc   *service.Service
	t     testing.TB
	store *store.Store
	ca    *scep.CA
	ep    *endpoint.Endpoint
	srv   *httptest.Server
	// enrollURL is the profile URL of an OTA enrollment.
	enrollURL string
	enr       store.Enrollment
}

func newServer(t testing.TB, mutate ...func(*endpoint.Config)) *testServer {
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
	svc := service.New(service.Config{Store: s})
	cfg := endpoint.Config{Devices: svc, CA: ca, PublicURL: srv.URL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
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
	return &testServer{t: t, store: s, svc: svc, ca: ca, ep: ep, srv: srv, enr: enr, enrollURL: srv.URL + "/enroll/" + enr.Secret}
}

// enrolled returns a simulated device that went through enrollment, with
// an empty queue: its first inventory (service's tests cover it) is
// cancelled, so each test here controls what the device is sent.
func (ts *testServer) enrolled() *devicesim.Device {
	ts.t.Helper()
	d := ts.device()
	if err := d.Enroll(context.Background(), ts.enrollURL); err != nil {
		ts.t.Fatal(err)
	}
	_, err := ts.store.Pool().Exec(context.Background(), `UPDATE mdm_device_commands SET status = 'Cancelled'
		WHERE queued_by = 'orchard:inventory' AND device_id = (SELECT id FROM enrolled_devices WHERE udid = $1)`, d.UDID)
	if err != nil {
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

// snapshot digests every row a device request may change, so a test can show
// that a refused request changed nothing (last_seen_at included).
func (ts *testServer) snapshot() string {
	ts.t.Helper()
	var out string
	err := ts.store.Pool().QueryRow(context.Background(), `SELECT
		coalesce((SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM enrolled_devices t), '') ||
		coalesce((SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM mdm_device_commands t), '') ||
		coalesce((SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM mdm_device_users t), '') ||
		coalesce((SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM mdm_scep_certificates t), '') ||
		coalesce((SELECT md5(string_agg(t::text, ',' ORDER BY challenge_sha256)) FROM mdm_scep_challenges t), '')`).Scan(&out)
	if err != nil {
		ts.t.Fatal(err)
	}
	return out
}

// raw sends a request with the given headers and returns the status.
func (ts *testServer) raw(method, path, contentType string, body []byte, headers map[string]string) int {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := ts.srv.Client().Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// status returns the HTTP status of a simulator call (200 when it succeeded).
func status(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return http.StatusOK
	}
	var he *devicesim.HTTPError
	if !errors.As(err, &he) {
		t.Fatalf("not an HTTP answer: %v", err)
	}
	return he.Status
}

func (ts *testServer) exec(sql string, args ...any) {
	ts.t.Helper()
	if _, err := ts.store.Pool().Exec(context.Background(), sql, args...); err != nil {
		ts.t.Fatal(err)
	}
}

func (ts *testServer) commandStatus(uuid string) (status string, errorChain []byte) {
	ts.t.Helper()
	err := ts.store.Pool().QueryRow(context.Background(),
		"SELECT status, error_chain FROM mdm_device_commands WHERE uuid = $1", uuid).Scan(&status, &errorChain)
	if err != nil {
		ts.t.Fatal(err)
	}
	return status, errorChain
}

// cancelCommand cancels a command the way the service does (in its own statement here).
func cancelCommand(ctx context.Context, s *store.Store, uuid string) (store.DeviceCommand, error) {
	return s.CancelCommand(ctx, uuid)
}
