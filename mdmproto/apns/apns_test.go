package apns_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/apns"
	"github.com/orchardmdm/orchard/mdmproto/apns/apnstest"
)

const topic = "com.apple.mgmt.External.test"

func setup(t testing.TB) (*apnstest.Server, *apnstest.PushCert, *apns.Pool) {
	t.Helper()
	pc, err := apnstest.NewPushCert(topic, time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srv := apnstest.NewServer(topic, pc.Cert)
	t.Cleanup(srv.Close)
	pool := apns.New(apns.Config{URL: srv.URL(), RootCAs: srv.RootCAs(), Concurrency: 8})
	t.Cleanup(pool.Close)
	return srv, pc, pool
}

func token(i int) []byte {
	b, _ := hex.DecodeString(fmt.Sprintf("%064x", i+1))
	return b
}

func TestPushSortsAnswers(t *testing.T) {
	srv, pc, pool := setup(t)
	srv.ReplyTo(hex.EncodeToString(token(1)), apnstest.Reply{Status: http.StatusGone, Reason: "Unregistered"})
	srv.ReplyTo(hex.EncodeToString(token(2)), apnstest.Reply{Status: http.StatusBadRequest, Reason: "BadDeviceToken"})
	srv.ReplyTo(hex.EncodeToString(token(3)), apnstest.Reply{Status: http.StatusInternalServerError, Reason: "InternalServerError"})
	srv.ReplyTo(hex.EncodeToString(token(4)), apnstest.Reply{Status: http.StatusTooManyRequests, Reason: "TooManyRequests"})
	srv.ReplyTo(hex.EncodeToString(token(5)), apnstest.Reply{Status: http.StatusForbidden, Reason: "BadCertificate"})
	targets := make([]apns.Target, 6)
	for i := range targets {
		targets[i] = apns.Target{Token: token(i), PushMagic: fmt.Sprintf("magic-%d", i)}
	}
	got := pool.Push(context.Background(), topic, pc.TLS, targets)
	want := []apns.Outcome{apns.Sent, apns.Invalid, apns.Invalid, apns.Retry, apns.Retry, apns.Failed}
	for i := range want {
		if got[i].Outcome != want[i] {
			t.Errorf("target %d: %v (%d %s %v), want %v", i, got[i].Outcome, got[i].Status, got[i].Reason, got[i].Err, want[i])
		}
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Fatalf("malformed pushes: %v", v)
	}
	pushes := srv.Pushes()
	if len(pushes) != 6 {
		t.Fatalf("%d pushes arrived, want 6", len(pushes))
	}
	for _, p := range pushes {
		if p.PushMagic == "" || p.Token == "" {
			t.Fatalf("push %+v lacks token or magic", p)
		}
	}
}

func TestOneConnectionCarriesABurst(t *testing.T) {
	srv, pc, pool := setup(t)
	targets := make([]apns.Target, 500)
	for i := range targets {
		targets[i] = apns.Target{Token: token(i), PushMagic: "m"}
	}
	for range 2 {
		for i, r := range pool.Push(context.Background(), topic, pc.TLS, targets) {
			if r.Outcome != apns.Sent {
				t.Fatalf("push %d: %+v", i, r)
			}
		}
	}
	if n := srv.Connections(); n != 1 {
		t.Fatalf("%d connections for two bursts of 500 pushes, want one reused connection", n)
	}
}

func TestARenewedCertificateGetsItsOwnConnection(t *testing.T) {
	srv, pc, pool := setup(t)
	target := []apns.Target{{Token: token(0), PushMagic: "m"}}
	if r := pool.Push(context.Background(), topic, pc.TLS, target); r[0].Outcome != apns.Sent {
		t.Fatalf("before renewal: %+v", r[0])
	}
	renewed, err := apnstest.PushCertWithKey(topic, time.Now().Add(48*time.Hour), pc.Key)
	if err != nil {
		t.Fatal(err)
	}
	srv.Expect(renewed.Cert)
	if r := pool.Push(context.Background(), topic, renewed.TLS, target); r[0].Outcome != apns.Sent {
		t.Fatalf("after renewal: %+v (violations %v)", r[0], srv.Violations())
	}
	if n := srv.Connections(); n != 2 {
		t.Fatalf("%d connections, want a new one for the renewed certificate", n)
	}
}

func TestPushWithAnotherCertificateIsRefused(t *testing.T) {
	srv, _, pool := setup(t)
	intruder, err := apnstest.NewPushCert(topic, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	res := pool.Push(context.Background(), topic, intruder.TLS, []apns.Target{{Token: token(0), PushMagic: "m"}})
	if res[0].Outcome != apns.Failed || srv.Count() != 0 {
		t.Fatalf("result %+v, %d accepted; want the server to refuse the certificate", res[0], srv.Count())
	}
}

func TestPushStopsWithTheContext(t *testing.T) {
	srv, pc, pool := setup(t)
	srv.SetDelay(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	targets := make([]apns.Target, 50)
	for i := range targets {
		targets[i] = apns.Target{Token: token(i), PushMagic: "m"}
	}
	for i, r := range pool.Push(ctx, topic, pc.TLS, targets) {
		if r.Outcome != apns.Retry {
			t.Fatalf("target %d: %v after the context ended, want retry", i, r.Outcome)
		}
	}
}

func TestPushMagicReachesAPNsIntact(t *testing.T) {
	srv, pc, pool := setup(t)
	magics := []string{"5E8F1B2A-0C3D-4E5F-8A9B-1C2D3E4F5A6B", `quote " and \ backslash`, "tab\tnew\nline\x00",
		"<html> & more", "naïve ☃", "\u2028 separator"}
	targets := make([]apns.Target, len(magics))
	for i, m := range magics {
		targets[i] = apns.Target{Token: token(i), PushMagic: m}
	}
	for i, r := range pool.Push(context.Background(), topic, pc.TLS, targets) {
		if r.Outcome != apns.Sent {
			t.Fatalf("push %d: %+v (violations %v)", i, r, srv.Violations())
		}
	}
	got := map[string]string{}
	for _, p := range srv.Pushes() {
		got[p.Token] = p.PushMagic
	}
	for i, m := range magics {
		if tok := hex.EncodeToString(token(i)); got[tok] != m {
			t.Errorf("device %d: APNs read push magic %q, want %q", i, got[tok], m)
		}
	}
}

func TestConcurrencyBoundsPushesInFlight(t *testing.T) {
	srv, pc, _ := setup(t)
	pool := apns.New(apns.Config{URL: srv.URL(), RootCAs: srv.RootCAs(), Concurrency: 3})
	t.Cleanup(pool.Close)
	srv.SetDelay(5 * time.Millisecond) // so pushes overlap
	targets := make([]apns.Target, 30)
	for i := range targets {
		targets[i] = apns.Target{Token: token(i), PushMagic: "m"}
	}
	// Two callers at once share the bound.
	done := make(chan []apns.Result)
	for range 2 {
		go func() { done <- pool.Push(context.Background(), topic, pc.TLS, targets) }()
	}
	for range 2 {
		for i, r := range <-done {
			if r.Outcome != apns.Sent {
				t.Fatalf("push %d: %+v", i, r)
			}
		}
	}
	if n := srv.MaxInFlight(); n < 1 || n > 3 {
		t.Fatalf("%d pushes were in flight at once, want at most the concurrency of 3", n)
	}
}

func TestAClosedPoolHandsPushesBackForRetry(t *testing.T) {
	srv, pc, pool := setup(t)
	pool.Close()
	for i, r := range pool.Push(context.Background(), topic, pc.TLS, []apns.Target{{Token: token(0), PushMagic: "m"}}) {
		if r.Outcome != apns.Retry || r.Err == nil {
			t.Fatalf("push %d after Close: %+v, want a retry", i, r)
		}
	}
	if srv.Count() != 0 {
		t.Fatalf("a closed pool sent %d pushes", srv.Count())
	}
}

// TestMain lets the test binary double as the mock APNs process.
func TestMain(m *testing.M) {
	apnstest.ServeProcessIfAsked()
	os.Exit(m.Run())
}

func TestPushToAMockInAnotherProcess(t *testing.T) {
	pc, err := apnstest.NewPushCert(topic, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	mock := apnstest.StartProcess(t, topic, pc.Cert)
	pool := apns.New(apns.Config{URL: mock.URL(), RootCAs: mock.RootCAs(), Concurrency: 4})
	defer pool.Close()
	targets := []apns.Target{{Token: token(0), PushMagic: "m0"}, {Token: token(1), PushMagic: "m1"}}
	for i, r := range pool.Push(context.Background(), topic, pc.TLS, targets) {
		if r.Outcome != apns.Sent {
			t.Fatalf("push %d: %+v", i, r)
		}
	}
	st, err := mock.Stats()
	if err != nil || st.Count != 2 || st.Violations != 0 || st.Last.Before(st.First) {
		t.Fatalf("the mock process saw %+v (%v), want 2 well-formed pushes", st, err)
	}
	if err := mock.Reset(); err != nil {
		t.Fatal(err)
	}
	if st, err := mock.Stats(); err != nil || st.Count != 0 {
		t.Fatalf("after reset: %+v (%v)", st, err)
	}
}

// BenchmarkPoolPush measures raw pushes/s of the client to the mock APNs in a
// separate process, without the database, and what each push costs the
// client (CPU time of this process, allocations) and the mock (its CPU time).
//
//	go test -run '^$' -bench PoolPush -benchtime 3x ./mdmproto/apns/
func BenchmarkPoolPush(b *testing.B) {
	pc, err := apnstest.NewPushCert(topic, time.Now().Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	mock := apnstest.StartProcess(b, topic, pc.Cert)
	pool := apns.New(apns.Config{URL: mock.URL(), RootCAs: mock.RootCAs(), Concurrency: 200})
	defer pool.Close()
	targets := make([]apns.Target, 10000)
	for i := range targets {
		targets[i] = apns.Target{Token: token(i), PushMagic: fmt.Sprintf("magic-%d", i)}
	}
	// The first round dials and warms the connection up.
	pool.Push(context.Background(), topic, pc.TLS, targets[:100])
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	mockBefore, err := mock.Stats()
	if err != nil {
		b.Fatal(err)
	}
	cpu, start := apnstest.ProcessCPU(), time.Now()
	pushes := 0
	for b.Loop() {
		for _, r := range pool.Push(context.Background(), topic, pc.TLS, targets) {
			if r.Outcome != apns.Sent {
				b.Fatalf("push failed: %+v", r)
			}
		}
		pushes += len(targets)
	}
	elapsed, cpu := time.Since(start), apnstest.ProcessCPU()-cpu
	runtime.ReadMemStats(&after)
	mockAfter, err := mock.Stats()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(pushes)/elapsed.Seconds(), "pushes/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(pushes), "cpu-ns/push")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(pushes), "allocs/push")
	b.ReportMetric(float64((mockAfter.CPU-mockBefore.CPU).Nanoseconds())/float64(pushes), "mock-cpu-ns/push")
}
