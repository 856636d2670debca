package jobs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/apns"
	"github.com/orchardmdm/orchard/mdmproto/apns/apnstest"
	"github.com/orchardmdm/orchard/mdmproto/pushcert"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

const pushTopic = "com.apple.mgmt.External.jobs-test"

// pushEnv is a database with a push certificate and devices, a working River
// client and the mock APNs server the pushes go to.
type pushEnv struct {
	t      testing.TB
	store  *store.Store
	river  *jobs.Client
	apns   *apnstest.Server
	window time.Duration
}

func newPushEnv(t testing.TB, cfg jobs.PushConfig, concurrency int) *pushEnv {
	t.Helper()
	s := pgtest.New(t)
	pc := addPushCert(t, s)
	srv := apnstest.NewServer(pushTopic, pc.Cert)
	t.Cleanup(srv.Close)
	pool := apns.New(apns.Config{URL: srv.URL(), RootCAs: srv.RootCAs(), Concurrency: concurrency})
	t.Cleanup(pool.Close)
	rc := startPushWorkers(t, s, s, pool, cfg)
	return &pushEnv{t: t, store: s, river: rc, apns: srv, window: cfg.Window}
}

// addPushCert stores a push certificate for pushTopic and returns it.
func addPushCert(t testing.TB, s *store.Store) *apnstest.PushCert {
	t.Helper()
	pc, err := apnstest.NewPushCert(pushTopic, time.Now().Add(365*24*time.Hour))
	mustTB(t, err)
	parsed, err := pushcert.Parse(pc.CertPEM, pc.KeyPEM, nil)
	mustTB(t, err)
	_, err = s.CreatePushCertificate(context.Background(), store.PushCertificateInput{Name: "test", Topic: parsed.Topic,
		CertPEM: parsed.CertPEM, KeyDER: parsed.KeyDER, NotBefore: pc.Cert.NotBefore, NotAfter: pc.Cert.NotAfter})
	mustTB(t, err)
	return pc
}

// startPushWorkers runs a River client on riverStore's pool whose push jobs
// use jobStore (the same database; a benchmark counts the job's statements
// on a pool of its own).
func startPushWorkers(t testing.TB, riverStore, jobStore *store.Store, pusher jobs.Pusher, cfg jobs.PushConfig) *jobs.Client {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	workers := river.NewWorkers()
	mustTB(t, jobs.Register(workers, jobs.Deps{Store: jobStore, Logger: logger, APNs: pusher, Push: cfg}))
	rc, err := jobs.NewClient(riverStore.Pool(), workers, jobs.Config{Work: true, Logger: logger})
	mustTB(t, err)
	mustTB(t, rc.Start(ctx))
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rc.Stop(stopCtx)
	})
	return rc
}

// addDevices enrolls n devices with push tokens (token i+1 for the i-th) and
// returns their ids in order.
func (e *pushEnv) addDevices(n int) []int64 {
	e.t.Helper()
	rows, err := e.store.Pool().Query(context.Background(), `INSERT INTO enrolled_devices (udid, push_token, push_magic, push_topic)
		SELECT 'UDID-' || i, decode(lpad(to_hex(i), 64, '0'), 'hex'), 'magic-' || i, $2
		FROM generate_series(1, $1) i RETURNING id`, n, pushTopic)
	mustTB(e.t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	mustTB(e.t, err)
	return ids
}

func tokenOf(i int) string { return fmt.Sprintf("%064x", i+1) }

func (e *pushEnv) enqueue(ids ...int64) {
	e.t.Helper()
	mustTB(e.t, pgx.BeginFunc(context.Background(), e.store.Pool(), func(tx pgx.Tx) error {
		return jobargs.EnqueuePushTx(context.Background(), e.river, tx, ids)
	}))
}

// settle waits until no push job is waiting, scheduled or running.
func (e *pushEnv) settle(timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var pending int
		mustTB(e.t, e.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'apns_push'
			AND state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&pending))
		if pending == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("push jobs still pending after %s", timeout)
}

// pushesByToken groups the mock's pushes by token, in arrival order.
func (e *pushEnv) pushesByToken() map[string][]apnstest.Push {
	e.t.Helper()
	if v := e.apns.Violations(); len(v) > 0 {
		e.t.Fatalf("the mock APNs refused malformed pushes: %v", v)
	}
	out := map[string][]apnstest.Push{}
	for _, p := range e.apns.Pushes() {
		out[p.Token] = append(out[p.Token], p)
	}
	return out
}

func TestEveryQueuedDeviceIsPushedOncePerWindow(t *testing.T) {
	t.Parallel()
	window := 2 * time.Second
	env := newPushEnv(t, jobs.PushConfig{Window: window, RetryBase: 50 * time.Millisecond}, 16)
	ids := env.addDevices(300)
	// A burst: overlapping requests, some in one transaction, as commands queue them.
	mustTB(t, pgx.BeginFunc(context.Background(), env.store.Pool(), func(tx pgx.Tx) error {
		for _, part := range [][]int64{ids, ids[:100], ids[50:250]} {
			if err := jobargs.EnqueuePushTx(context.Background(), env.river, tx, part); err != nil {
				return err
			}
		}
		return nil
	}))
	env.enqueue(ids[200:]...)
	env.settle(30 * time.Second)

	byToken := env.pushesByToken()
	for i := range ids {
		pushes := byToken[tokenOf(i)]
		if len(pushes) == 0 || len(pushes) > 2 {
			t.Fatalf("device %d pushed %d times for one burst, want 1 (or 2 when a request came after the first push)", i, len(pushes))
		}
		if pushes[0].PushMagic != fmt.Sprintf("magic-%d", i+1) {
			t.Fatalf("device %d pushed with magic %q", i, pushes[0].PushMagic)
		}
		if len(pushes) == 2 && pushes[1].At.Sub(pushes[0].At) < window {
			t.Fatalf("device %d pushed twice within %s", i, pushes[1].At.Sub(pushes[0].At))
		}
	}
	var notified int
	mustTB(t, env.store.Pool().QueryRow(context.Background(),
		"SELECT count(*) FROM enrolled_devices WHERE last_notified_at IS NOT NULL").Scan(&notified))
	if notified != len(ids) {
		t.Fatalf("%d devices have last_notified_at, want %d", notified, len(ids))
	}
}

func TestRequestsInsideTheWindowCoalesceIntoOneLaterPush(t *testing.T) {
	t.Parallel()
	window := 2 * time.Second
	env := newPushEnv(t, jobs.PushConfig{Window: window}, 8)
	ids := env.addDevices(20)
	env.enqueue(ids...)
	env.settle(20 * time.Second)
	if env.apns.Count() != 20 {
		t.Fatalf("%d pushes, want 20", env.apns.Count())
	}
	// New commands for every device, moments after their push.
	for range 5 {
		env.enqueue(ids...)
	}
	env.settle(30 * time.Second)
	for i := range ids {
		pushes := env.pushesByToken()[tokenOf(i)]
		if len(pushes) != 2 {
			t.Fatalf("device %d: %d pushes, want the first and one coalesced follow-up", i, len(pushes))
		}
		if gap := pushes[1].At.Sub(pushes[0].At); gap < window {
			t.Fatalf("device %d pushed again after %s, inside the %s window", i, gap, window)
		}
	}
}

func TestGoneTokensStopBeingPushed(t *testing.T) {
	t.Parallel()
	env := newPushEnv(t, jobs.PushConfig{Window: 100 * time.Millisecond}, 8)
	ids := env.addDevices(3)
	env.apns.ReplyTo(tokenOf(0), apnstest.Reply{Status: http.StatusGone, Reason: "Unregistered"})
	env.apns.ReplyTo(tokenOf(1), apnstest.Reply{Status: http.StatusBadRequest, Reason: "BadDeviceToken"})
	env.enqueue(ids...)
	env.settle(20 * time.Second)
	var invalid []int64
	rows, err := env.store.Pool().Query(context.Background(),
		"SELECT id FROM enrolled_devices WHERE push_token_invalid_at IS NOT NULL ORDER BY id")
	mustTB(t, err)
	invalid, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	mustTB(t, err)
	if len(invalid) != 2 || invalid[0] != ids[0] || invalid[1] != ids[1] {
		t.Fatalf("invalid tokens on devices %v, want %v", invalid, ids[:2])
	}
	time.Sleep(150 * time.Millisecond) // past the window
	env.enqueue(ids...)
	env.settle(20 * time.Second)
	byToken := env.pushesByToken()
	if len(byToken[tokenOf(0)]) != 1 || len(byToken[tokenOf(1)]) != 1 || len(byToken[tokenOf(2)]) != 2 {
		t.Fatalf("pushes per device: %d, %d, %d; want 1, 1, 2", len(byToken[tokenOf(0)]),
			len(byToken[tokenOf(1)]), len(byToken[tokenOf(2)]))
	}
}

func TestFailedPushesAreRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	env := newPushEnv(t, jobs.PushConfig{Window: time.Minute, RetryBase: 100 * time.Millisecond}, 8)
	ids := env.addDevices(2)
	env.apns.ReplyTo(tokenOf(0),
		apnstest.Reply{Status: http.StatusInternalServerError, Reason: "InternalServerError"},
		apnstest.Reply{Status: http.StatusTooManyRequests, Reason: "TooManyRequests"})
	env.enqueue(ids...)
	env.settle(60 * time.Second)
	byToken := env.pushesByToken()
	retried := byToken[tokenOf(0)]
	if len(retried) != 3 || retried[2].Status != http.StatusOK {
		t.Fatalf("device 0: %+v; want 500, 429, then a delivered push", retried)
	}
	if gap := retried[2].At.Sub(retried[1].At); gap < 200*time.Millisecond {
		t.Fatalf("second retry came %s after the first, want at least the doubled backoff", gap)
	}
	if len(byToken[tokenOf(1)]) != 1 {
		t.Fatalf("device 1 pushed %d times, want once", len(byToken[tokenOf(1)]))
	}
}

func TestAPushJobSendsThreeStatements(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	riverStore, jobStore, statements := newCountingStores(t)
	pc := addPushCert(t, riverStore)
	srv := apnstest.NewServer(pushTopic, pc.Cert)
	t.Cleanup(srv.Close)
	pool := apns.New(apns.Config{URL: srv.URL(), RootCAs: srv.RootCAs(), Concurrency: 8})
	t.Cleanup(pool.Close)
	rc := startPushWorkers(t, riverStore, jobStore, pool, jobs.PushConfig{Window: time.Hour})
	env := &pushEnv{t: t, store: riverStore, river: rc, apns: srv}
	ids := env.addDevices(40)

	env.enqueue(ids...)
	env.settle(20 * time.Second)
	if srv.Count() != 40 || statements.total() != 3 {
		t.Fatalf("%d pushes with statements:%s\nwant 40 pushes and 3 statements: claim, certificate, notified stamp",
			srv.Count(), statements)
	}
	// Inside the window every device is deferred to one follow-up (an hour
	// away): the job has nothing to push, so it asks for no certificate.
	statements.reset()
	var job *rivertype.JobRow
	mustTB(t, pgx.BeginFunc(ctx, riverStore.Pool(), func(tx pgx.Tx) error {
		rows, err := jobargs.InsertPushTx(ctx, rc, tx, ids)
		job = rows[0]
		return err
	}))
	for deadline := time.Now().Add(20 * time.Second); job.State != rivertype.JobStateCompleted; {
		if time.Now().After(deadline) {
			t.Fatalf("the push job is still %s", job.State)
		}
		time.Sleep(10 * time.Millisecond)
		var err error
		job, err = rc.JobGet(ctx, job.ID)
		mustTB(t, err)
	}
	if srv.Count() != 40 || statements.has("SELECT topic, certificate") || statements.has("UPDATE enrolled_devices SET last_notified_at") {
		t.Fatalf("%d pushes with statements:%s\nwant no push, certificate or stamp for deferred devices", srv.Count(), statements)
	}
}

// newCountingStores opens two stores on one fresh database: riverStore for
// River and the test, jobStore for the push jobs, whose statements the
// counter sees.
func newCountingStores(t testing.TB) (riverStore, jobStore *store.Store, counter *statementCounter) {
	t.Helper()
	ctx := context.Background()
	dsn, sealer := pgtest.NewDatabase(t), pgtest.Sealer(t)
	riverStore, err := store.Open(ctx, dsn, sealer, store.Options{MaxConns: 20})
	mustTB(t, err)
	t.Cleanup(riverStore.Close)
	cfg, err := pgxpool.ParseConfig(dsn)
	mustTB(t, err)
	counter = &statementCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	mustTB(t, err)
	t.Cleanup(pool.Close)
	return riverStore, store.New(pool, sealer), counter
}

// statementCounter counts the statements sent to PostgreSQL, by their first words.
type statementCounter struct {
	mu     sync.Mutex
	byKind map[string]int
}

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	kind := strings.Join(strings.Fields(d.SQL), " ")
	if len(kind) > 40 {
		kind = kind[:40] + "..."
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKind == nil {
		c.byKind = map[string]int{}
	}
	c.byKind[kind]++
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *statementCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byKind = nil
}

func (c *statementCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.byKind {
		n += k
	}
	return n
}

// has reports whether a statement starting with prefix ran.
func (c *statementCounter) has(prefix string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for kind := range c.byKind {
		if strings.HasPrefix(kind, prefix) {
			return true
		}
	}
	return false
}

func (c *statementCounter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var lines []string
	for kind, n := range c.byKind {
		lines = append(lines, fmt.Sprintf("\n    %d× %s", n, kind))
	}
	slices.Sort(lines)
	return strings.Join(lines, "")
}

// mustTB is must for tests and benchmarks alike.
func mustTB(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
