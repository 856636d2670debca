package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/graph"
)

// aliasFlood asks for devices' totalCount under n aliases.
func aliasFlood(n int) string {
	var b strings.Builder
	b.WriteString("{ ")
	for i := range n {
		fmt.Fprintf(&b, "a%d: devices(first: 1) { totalCount } ", i)
	}
	b.WriteString("}")
	return b.String()
}

// holdDevicesTable makes every query of the devices table wait, each on its
// own pool connection, until the returned function releases it.
func holdDevicesTable(t *testing.T, api *testAPI) func() {
	t.Helper()
	ctx := context.Background()
	tx, err := api.store.Pool().Begin(ctx)
	must(t, err)
	_, err = tx.Exec(ctx, "LOCK TABLE enrolled_devices IN ACCESS EXCLUSIVE MODE")
	must(t, err)
	var once sync.Once
	release := func() { once.Do(func() { _ = tx.Rollback(ctx) }) }
	t.Cleanup(release)
	return release
}

// send posts query with token under ctx; errors go to errs (not t: it runs
// in its own goroutine).
func (a *testAPI) send(ctx context.Context, token, query string, errs chan<- error) {
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.server.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	errs <- err
}

// waitingForLock counts the queries of this test's database waiting for a
// lock: each holds a pool connection.
func waitingForLock(t *testing.T, api *testAPI) int {
	t.Helper()
	// Bounded: with the pool taken by the flood, this too would wait.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int
	must(t, api.store.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&n))
	return n
}

// waitUntil polls cond; the deadline only keeps a broken build from hanging.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
	}
}

// Issue 9: six concurrent 12,000-alias queries of a read-only token held the
// whole pool and turned /healthz to 503.
func TestOneCallerCannotTakeTheWholePool(t *testing.T) {
	t.Parallel()
	limits := graph.DefaultLimits()
	limits.CallerDBConcurrency = 2
	api, _ := newLimitedAPI(t, limits)
	flooder, other := api.token("mdm.view_enrolleddevice"), api.token("mdm.*")
	release := holdDevicesTable(t, api)

	errs := make(chan error, 6)
	for range 6 {
		go api.send(context.Background(), flooder, aliasFlood(limits.Document.Aliases), errs)
	}
	waitUntil(t, "the flood waits for the table", func() bool { return waitingForLock(t, api) >= limits.CallerDBConcurrency })

	// What /healthz does, with its deadline, and another caller's query.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := api.store.Ping(ctx); err != nil {
		t.Fatalf("the database did not answer /healthz during one caller's flood: %v", err)
	}
	otherErr := make(chan error, 1)
	go api.send(ctx, other, `{ blueprints { totalCount } }`, otherErr)
	if err := <-otherErr; err != nil {
		t.Fatalf("another caller got no answer during the flood: %v", err)
	}
	if held := waitingForLock(t, api); held > limits.CallerDBConcurrency {
		t.Fatalf("one caller holds %d connections, more than its %d", held, limits.CallerDBConcurrency)
	}

	release()
	for range 6 {
		must(t, <-errs)
	}
	var flood map[string]struct{ TotalCount int }
	api.query(flooder, aliasFlood(20), nil).decode(t, &flood)
	if len(flood) != 20 {
		t.Fatalf("%d answers to 20 aliases", len(flood))
	}
}

// Issue 9: work went on after the client had gone. Resolvers still waiting
// for their turn when the request ends never start.
func TestResolversStopWhenTheClientGoesAway(t *testing.T) {
	t.Parallel()
	limits := graph.DefaultLimits()
	limits.CallerDBConcurrency = 1
	api, _ := newLimitedAPI(t, limits)
	pool := api.store.Pool()
	tok := api.token("mdm.*")
	release := holdDevicesTable(t, api)
	// Attempts to take a connection, whether they got one or gave up waiting.
	attempts := func() int64 { st := pool.Stat(); return st.AcquireCount() + st.CanceledAcquireCount() }
	before := attempts()

	ctx, disconnect := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go api.send(ctx, tok, aliasFlood(limits.Document.Aliases), errs)
	waitUntil(t, "the first resolver waits for the table", func() bool { return pool.Stat().AcquiredConns() > 1 })
	disconnect()
	<-errs
	waitUntil(t, "the waiting query is cancelled", func() bool { return pool.Stat().AcquiredConns() == 1 })
	release()

	// Whatever still runs would take a connection now; give it the chance
	// by asking something of our own and checking what was taken since.
	var out struct{ Blueprints struct{ TotalCount int } }
	api.query(tok, `{ blueprints { totalCount } }`, nil).decode(t, &out)
	// Two token checks, the resolver that had started and our own query's
	// two: a handful, not one per alias.
	if taken := attempts() - before; taken > 10 {
		t.Fatalf("%d connections were asked for a request of %d aliases whose client left during the first", taken, limits.Document.Aliases)
	}
}
