package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// testAPI is the real GraphQL endpoint on a fresh database, with a working
// River client and the event broker, served over HTTP.
type testAPI struct {
	t      *testing.T
	store  *store.Store
	tokens *auth.Tokens
	river  *jobs.Client
	server *httptest.Server
}

// newTestAPI starts the API; opts adjust the resolver before it serves.
func newTestAPI(t *testing.T, opts ...func(*graph.Resolver)) *testAPI {
	t.Helper()
	return startTestAPI(t, nil, func(r *graph.Resolver, _ *jobs.Client) {
		for _, opt := range opts {
			opt(r)
		}
	})
}

// newTestAPIWithPush starts the API with push replacing the service's
// queueing of pushes, to watch or fail them.
func newTestAPIWithPush(t *testing.T, push func(ctx context.Context, tx pgx.Tx, ids []int64) error) *testAPI {
	t.Helper()
	return startTestAPI(t, func(_ *store.Store, cfg *service.Config, _ *jobs.Deps) { cfg.PushDevices = push }, nil)
}

// startTestAPI starts the API with the service's configuration and the
// workers' dependencies completed by deps (given the fresh store; nil adds
// nothing) and the resolver adjusted by adjust (given the running River
// client) before it serves.
func startTestAPI(t *testing.T, deps func(*store.Store, *service.Config, *jobs.Deps), adjust func(*graph.Resolver, *jobs.Client)) *testAPI {
	t.Helper()
	return startTestAPIWith(t, deps, adjust, nil)
}

// startTestAPIWith is startTestAPI with the handler's configuration adjusted
// by handler (nil keeps the defaults).
func startTestAPIWith(t *testing.T, deps func(*store.Store, *service.Config, *jobs.Deps), adjust func(*graph.Resolver, *jobs.Client),
	handler func(*graph.HandlerConfig)) *testAPI {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := pgtest.New(t)
	inserter, err := jobargs.NewInserter(s.Pool(), logger)
	if err != nil {
		t.Fatal(err)
	}
	svcConfig := service.Config{Store: s, Jobs: inserter, Logger: logger, PublicURL: "https://orchard.example.com"}
	workerDeps := jobs.Deps{Store: s, Logger: logger}
	if deps != nil {
		deps(s, &svcConfig, &workerDeps)
	}
	svc := service.New(svcConfig)
	workerDeps.Service = svc
	tokens, err := auth.NewTokens(ctx, s, svc)
	if err != nil {
		t.Fatal(err)
	}
	rc, broker, cancel := startJobsAndEvents(t, s, workerDeps, logger)
	resolver := &graph.Resolver{Store: s, Jobs: rc, Events: broker, Logger: logger, Service: svc, Tokens: tokens}
	if adjust != nil {
		adjust(resolver, rc)
	}
	mux := http.NewServeMux()
	handlerConfig := graph.HandlerConfig{Resolver: resolver, Tokens: tokens, Logger: logger, Limits: graph.DefaultLimits()}
	if handler != nil {
		handler(&handlerConfig)
	}
	mux.Handle("/graphql", graph.NewHandler(handlerConfig))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		stopCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		_ = rc.Stop(stopCtx)
		cancel()
	})
	return &testAPI{t: t, store: s, tokens: tokens, river: rc, server: srv}
}

// startJobsAndEvents runs a working River client, the event broker, and
// beside them River's outcomes forwarded through a publisher and the push
// dispatcher, until cancel.
func startJobsAndEvents(t *testing.T, s *store.Store, deps jobs.Deps, logger *slog.Logger) (*jobs.Client, *events.Broker, context.CancelFunc) {
	t.Helper()
	workers := river.NewWorkers()
	if err := jobs.Register(workers, deps); err != nil {
		t.Fatal(err)
	}
	rc, err := jobs.NewClient(s.Pool(), workers, jobs.Config{Work: true, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	bg, cancel := context.WithCancel(context.Background())
	broker := events.NewBroker(s.Pool(), logger)
	go broker.Run(bg)
	if err := rc.Start(bg); err != nil {
		t.Fatal(err)
	}
	publisher := events.NewPublisher(s.Pool(), logger)
	go publisher.Run(bg)
	go jobs.RunBesideWorkers(bg, rc, s, broker, publisher, logger)
	select {
	case <-broker.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("event broker did not start listening")
	}
	return rc, broker, cancel
}

// token issues a token holding perms.
func (a *testAPI) token(perms ...string) string {
	a.t.Helper()
	tok, _, err := a.tokens.Issue(context.Background(), "test", perms, time.Hour, "test")
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	status int
}

func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// decode unmarshals data into v, failing the test on GraphQL errors.
func (r gqlResponse) decode(t *testing.T, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

func (a *testAPI) query(token, query string, vars map[string]any) gqlResponse {
	a.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, a.server.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	var out gqlResponse
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		a.t.Fatalf("decode response (status %d): %v", res.StatusCode, err)
	}
	out.status = res.StatusCode
	return out
}

// subscription is a graphql-transport-ws client for one operation.
type subscription struct {
	t    *testing.T
	conn *websocket.Conn
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func (a *testAPI) subscribe(ctx context.Context, token, query string, vars map[string]any) *subscription {
	a.t.Helper()
	url := "ws" + strings.TrimPrefix(a.server.URL, "http") + "/graphql"
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { conn.CloseNow() })
	init := map[string]any{}
	if token != "" {
		init["Authorization"] = "Bearer " + token
	}
	payload, _ := json.Marshal(init)
	must(a.t, wsjson.Write(ctx, conn, wsMessage{Type: "connection_init", Payload: payload}))
	var ack wsMessage
	must(a.t, wsjson.Read(ctx, conn, &ack))
	if ack.Type != "connection_ack" {
		a.t.Fatalf("expected connection_ack, got %s %s", ack.Type, ack.Payload)
	}
	sub, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	must(a.t, wsjson.Write(ctx, conn, wsMessage{ID: "1", Type: "subscribe", Payload: sub}))
	return &subscription{t: a.t, conn: conn}
}

// send starts another operation on the same connection.
func (s *subscription) send(ctx context.Context, id, query string) {
	s.t.Helper()
	op, _ := json.Marshal(map[string]any{"query": query})
	must(s.t, wsjson.Write(ctx, s.conn, wsMessage{ID: id, Type: "subscribe", Payload: op}))
}

// next returns the next result (data or errors) of the first operation.
func (s *subscription) next(ctx context.Context) gqlResponse { return s.nextOf(ctx, "1") }

// nextOf returns the next result (data or errors) of operation id, skipping
// messages about the connection's other operations.
func (s *subscription) nextOf(ctx context.Context, id string) gqlResponse {
	s.t.Helper()
	for {
		var msg wsMessage
		if err := wsjson.Read(ctx, s.conn, &msg); err != nil {
			s.t.Fatalf("reading subscription: %v", err)
		}
		if msg.ID != id {
			continue
		}
		switch msg.Type {
		case "next":
			var r gqlResponse
			must(s.t, json.Unmarshal(msg.Payload, &r))
			return r
		case "error":
			var errs []gqlError
			must(s.t, json.Unmarshal(msg.Payload, &errs))
			return gqlResponse{Errors: errs}
		case "complete":
			s.t.Fatal("subscription completed without a result")
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
