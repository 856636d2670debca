//go:build soak

package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/devicesim"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// TestSoakKillNine runs simulated devices and a command producer against a
// real orchard process that is killed with SIGKILL every few seconds and
// restarted. Afterwards every command whose enqueue was confirmed has been
// acknowledged, every report a device got 200 for is stored, and no device
// was sent a command it had already run (no NotNow is ever answered here).
// `make soak` runs it; ORCHARD_SOAK_DURATION sets how long the kills go on.
func TestSoakKillNine(t *testing.T) {
	duration := 60 * time.Second
	if v := os.Getenv("ORCHARD_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("ORCHARD_SOAK_DURATION: %v", err)
		}
		duration = d
	}
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	srv := newSoakServer(t, dsn, testKey(t))
	srv.start()

	out, err := orchardCmd(t, dsn, srv.key, "token", "create", "--name", "soak", "--permission", "mdm.*").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	httpClient := &http.Client{Timeout: 10 * time.Second}
	api := &graphqlClient{base: srv.url, token: strings.TrimSpace(string(out)), http: httpClient}
	devices := enrollSoakDevices(t, ctx, api, httpClient, 20)

	soakCtx, stop := context.WithTimeout(ctx, duration)
	defer stop()
	var wg sync.WaitGroup
	confirmed := &uuidSet{}
	wg.Go(func() { produceCommands(soakCtx, api, devices, confirmed) })
	for _, d := range devices {
		wg.Go(func() { d.work(soakCtx, t) })
	}
	kills := srv.killRepeatedly(soakCtx)
	wg.Wait()

	srv.ensureRunning()
	for _, d := range devices {
		d.drain(ctx, t)
	}
	checkSoak(t, ctx, dsn, devices, confirmed)
	t.Logf("%d kills, %d confirmed commands, all acknowledged once", kills, confirmed.len())
}

// soakServer is one orchard process at a fixed address, restarted after kills.
type soakServer struct {
	t        *testing.T
	dsn, key string
	addr     string
	url      string
	mu       sync.Mutex
	cmd      *exec.Cmd
}

func newSoakServer(t *testing.T, dsn, key string) *soakServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &soakServer{t: t, dsn: dsn, key: key, addr: addr, url: "http://" + addr}
	t.Cleanup(func() { s.kill() })
	return s
}

func (s *soakServer) start() {
	cmd := orchardCmd(s.t, s.dsn, s.key, "serve", "--listen", s.addr, "--public-url", s.url,
		"--log-level", "warn", "--shutdown-timeout", "2s")
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	for range 600 {
		res, err := http.Get(s.url + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatal("orchard serve did not become healthy in 30 s")
}

func (s *soakServer) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

func (s *soakServer) ensureRunning() {
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if !running {
		s.start()
	}
}

// killRepeatedly kills and restarts the server every 2 to 5 s until ctx ends.
func (s *soakServer) killRepeatedly(ctx context.Context) int {
	kills := 0
	for {
		select {
		case <-ctx.Done():
			return kills
		case <-time.After(2*time.Second + rand.N(3*time.Second)):
		}
		s.kill()
		kills++
		s.start()
	}
}

// soakDevice is a simulated device that remembers every command it ran.
type soakDevice struct {
	*devicesim.Device
	id    string
	mu    sync.Mutex
	runs  map[string]int  // command UUID -> times run
	acked map[string]bool // reports the server answered 200
}

func enrollSoakDevices(t *testing.T, ctx context.Context, api *graphqlClient, c *http.Client, n int) []*soakDevice {
	enrollURL, err := api.createEnrollment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	devices := make([]*soakDevice, n)
	udids := make([]string, n)
	for i := range devices {
		d, err := devicesim.New(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Enroll(ctx, enrollURL); err != nil {
			t.Fatal(err)
		}
		devices[i] = &soakDevice{Device: d, runs: map[string]int{}, acked: map[string]bool{}}
		udids[i] = d.UDID
	}
	if err := api.resolveIDs(ctx, udids); err != nil {
		t.Fatal(err)
	}
	for _, d := range devices {
		d.id = api.ids[d.UDID]
	}
	return devices
}

// work connects again and again, as a device woken by pushes does.
func (d *soakDevice) work(ctx context.Context, t *testing.T) {
	for ctx.Err() == nil {
		if _, err := d.session(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("device %s: %v", d.UDID, err)
			return
		}
		time.Sleep(rand.N(200 * time.Millisecond))
	}
}

// drain connects until the server has nothing more for the device.
func (d *soakDevice) drain(ctx context.Context, t *testing.T) {
	for range 100 {
		n, err := d.session(ctx)
		if err != nil {
			t.Fatalf("device %s: %v", d.UDID, err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatalf("device %s still receives commands after 100 connects", d.UDID)
}

// session is Idle, then every command answered Acknowledged. A report the
// server did not answer (it was killed) is sent again until it is answered:
// the device must not lose its result, and the server must not run it twice.
// The end of the soak stops new sessions, not the reports of commands run.
func (d *soakDevice) session(ctx context.Context) (int, error) {
	cmd, err := retryReport(ctx, func() (*devicesim.Command, error) { return d.Report(ctx, mdmproto.StatusIdle, "", nil) })
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	n := 0
	for err == nil && cmd != nil {
		d.mu.Lock()
		d.runs[cmd.UUID]++
		d.mu.Unlock()
		n++
		done := cmd
		cmd, err = retryReport(ctx, func() (*devicesim.Command, error) {
			return d.Report(ctx, mdmproto.StatusAcknowledged, done.UUID, d.DefaultResult(done))
		})
		if err == nil {
			d.mu.Lock()
			d.acked[done.UUID] = true
			d.mu.Unlock()
		}
	}
	return n, err
}

// retryReport retries what a dying or restarting server cannot answer:
// connection errors and 5xx. A 4xx is the server refusing the device: fatal.
func retryReport(ctx context.Context, send func() (*devicesim.Command, error)) (*devicesim.Command, error) {
	for {
		cmd, err := send()
		var httpErr *devicesim.HTTPError
		if err == nil || (errors.As(err, &httpErr) && httpErr.Status < 500) {
			return cmd, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// produceCommands queues DeviceInformation for random devices; an enqueue
// counts as confirmed only when the API answered it.
func produceCommands(ctx context.Context, api *graphqlClient, devices []*soakDevice, confirmed *uuidSet) {
	for ctx.Err() == nil {
		d := devices[rand.N(len(devices))]
		var out struct{ EnqueueDeviceCommand struct{ UUID string } }
		err := api.do(ctx, `mutation($id: ID!) { enqueueDeviceCommand(deviceId: $id, requestType: "DeviceInformation",
			payload: {Queries: ["DeviceName", "OSVersion"]}) { uuid } }`, map[string]any{"id": d.id}, &out)
		if err == nil {
			confirmed.add(out.EnqueueDeviceCommand.UUID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkSoak(t *testing.T, ctx context.Context, dsn string, devices []*soakDevice, confirmed *uuidSet) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	status := map[string]string{}
	// An answer that may carry a secret (SecurityInfo) is stored sealed.
	rows, _ := conn.Query(ctx, `SELECT uuid, status || CASE WHEN result IS NULL AND result_sealed IS NULL
		THEN '/no-result' ELSE '' END FROM mdm_device_commands`)
	var uuid, st string
	_, err = pgx.ForEachRow(rows, []any{&uuid, &st}, func() error { status[uuid] = st; return nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range confirmed.list() {
		if status[u] != "Acknowledged" {
			t.Errorf("confirmed command %s ended %q, want Acknowledged with its result", u, status[u])
		}
	}
	for _, d := range devices {
		for u, n := range d.runs {
			if n != 1 {
				t.Errorf("device %s ran command %s %d times", d.UDID, u, n)
			}
		}
		for u := range d.acked {
			if status[u] != "Acknowledged" {
				t.Errorf("report of %s was answered 200 but is stored as %q", u, status[u])
			}
		}
	}
	for u, st := range status {
		if st != "Acknowledged" {
			t.Errorf("command %s left %s after the drain", u, st)
		}
	}
	if confirmed.len() == 0 {
		t.Fatal("no command was confirmed: the soak proved nothing")
	}
}

type uuidSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (s *uuidSet) add(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]bool{}
	}
	s.m[u] = true
}

func (s *uuidSet) len() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.m) }

func (s *uuidSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.m))
	for u := range s.m {
		out = append(out, u)
	}
	return out
}
