package graph_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// BenchmarkDevicePage asks for a frontend's page (devicePageQuery: 100
// devices with totalCount, blueprint and user channels) at random depths of
// a fleet of 100,000 and of 1,000,000 devices, unfiltered and by each
// filter, over HTTP. Each fleet is seeded once per process (see seedFleet).
//
//	go test -run '^$' -bench DevicePage -benchtime 2000x ./graph/
//
// p50-ms and p99-ms are the pages' latencies; stmts/page is the most SQL
// statements one page sent (token check included). The 1M fleet needs a few
// GB of disk while it runs; its database is dropped afterwards.
func BenchmarkDevicePage(b *testing.B) {
	for _, size := range []int{100_000, 1_000_000} {
		b.Run("devices="+strconv.Itoa(size), func(b *testing.B) {
			api := newBenchAPI(b, seedFleet(b, size))
			cases := fleetFilters(b, api)
			for _, c := range cases {
				api.checkPlans(b, c)
			}
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) { api.pages(b, c) })
			}
		})
	}
}

// benchAPI is the GraphQL endpoint over HTTP on a seeded fleet, with every
// request's statements logged (requests are sent one at a time).
type benchAPI struct {
	store  *store.Store
	url    string
	token  string
	log    *pgtest.StatementLog
	maxID  int64
	random *rand.Rand
}

func newBenchAPI(b *testing.B, dsn string) *benchAPI {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := store.Open(ctx, dsn, pgtest.Sealer(b), store.Options{MaxConns: 10, Tracer: pgtest.Tracer{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	inserter, err := jobargs.NewInserter(s.Pool(), logger)
	if err != nil {
		b.Fatal(err)
	}
	svc := service.New(service.Config{Store: s, Jobs: inserter, Logger: logger, PublicURL: "https://orchard.example.com"})
	tokens, err := auth.NewTokens(ctx, s, svc)
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := tokens.Issue(ctx, "bench", []string{"mdm.view_enrolleddevice"}, time.Hour, "bench")
	if err != nil {
		b.Fatal(err)
	}
	handler := graph.NewHandler(graph.HandlerConfig{Resolver: &graph.Resolver{Store: s, Logger: logger, Service: svc, Tokens: tokens},
		Tokens: tokens, Logger: logger, Limits: graph.DefaultLimits()})
	api := &benchAPI{store: s, token: tok, log: &pgtest.StatementLog{}, random: rand.New(rand.NewPCG(16, 2))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.ServeHTTP(w, r.WithContext(api.log.Context(r.Context())))
	}))
	b.Cleanup(srv.Close)
	api.url = srv.URL
	if err := s.Pool().QueryRow(ctx, "SELECT max(id) FROM enrolled_devices").Scan(&api.maxID); err != nil {
		b.Fatal(err)
	}
	return api
}

// filterCase is one kind of page: next draws each page's filter.
type filterCase struct {
	name string
	next func(r *rand.Rand) map[string]any
}

// fleetFilters are the pages measured: unfiltered, and by each filter with
// values drawn from the fleet (a serial number, a UDID and a 5-character
// piece of a serial number of 200 devices picked at random; a platform; a
// first name, which 1 device in 20 has in its name).
func fleetFilters(b *testing.B, api *benchAPI) []filterCase {
	var serials, udids []string
	rows, err := api.store.Pool().Query(context.Background(), `SELECT serial_number, udid FROM enrolled_devices
		WHERE id IN (SELECT 1 + (random() * $1)::bigint FROM generate_series(1, 200))`, api.maxID-1)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var serial, udid string
		if err := rows.Scan(&serial, &udid); err != nil {
			b.Fatal(err)
		}
		serials, udids = append(serials, serial), append(udids, udid)
	}
	if rows.Err() != nil || len(serials) == 0 {
		b.Fatalf("no devices to draw filters from: %v", rows.Err())
	}
	pick := func(r *rand.Rand, list []string) string { return list[r.IntN(len(list))] }
	return []filterCase{
		{"all", func(*rand.Rand) map[string]any { return nil }},
		{"serial", func(r *rand.Rand) map[string]any { return map[string]any{"serialNumber": pick(r, serials)} }},
		{"udid", func(r *rand.Rand) map[string]any { return map[string]any{"udid": pick(r, udids)} }},
		{"platform", func(r *rand.Rand) map[string]any { return map[string]any{"platform": pick(r, fleetPlatforms)} }},
		{"blocked", func(*rand.Rand) map[string]any { return map[string]any{"blocked": true} }},
		{"search", func(r *rand.Rand) map[string]any {
			serial := pick(r, serials)
			at := r.IntN(len(serial) - 4)
			return map[string]any{"search": strings.ToLower(serial[at : at+5])}
		}},
		{"search-name", func(r *rand.Rand) map[string]any { return map[string]any{"search": pick(r, fleetNames)} }},
	}
}

// pages sends b.N pages of c at random depths and reports their latencies
// and the most statements one of them sent.
func (api *benchAPI) pages(b *testing.B, c filterCase) {
	latencies := make([]time.Duration, 0, b.N)
	most := 0
	for range b.N {
		vars := map[string]any{"first": 100, "filter": c.next(api.random)}
		if depth := api.random.Int64N(api.maxID); depth > 0 {
			vars["after"] = base64.RawURLEncoding.EncodeToString([]byte("device:" + strconv.FormatInt(depth, 10)))
		}
		api.log.Reset()
		took := api.page(b, vars)
		latencies = append(latencies, took)
		most = max(most, api.log.Len())
	}
	if most > 3 {
		b.Errorf("a page sent %d statements, want at most 3", most)
	}
	slices.Sort(latencies)
	b.ReportMetric(ms(latencies[len(latencies)/2]), "p50-ms")
	b.ReportMetric(ms(latencies[len(latencies)*99/100]), "p99-ms")
	b.ReportMetric(float64(most), "stmts/page")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// page sends one page's request and returns how long its answer took.
func (api *benchAPI) page(b *testing.B, vars map[string]any) time.Duration {
	body, _ := json.Marshal(map[string]any{"query": devicePageQuery, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, api.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+api.token)
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	answer, err := io.ReadAll(res.Body)
	took := time.Since(start)
	res.Body.Close()
	var out struct {
		Errors []gqlError `json:"errors"`
	}
	if err != nil || json.Unmarshal(answer, &out) != nil || len(out.Errors) > 0 {
		b.Fatalf("page %v: %v %s", vars, err, answer)
	}
	return took
}

// checkPlans fails the benchmark when a page of c, or its count, would read
// the devices table from end to end with the fleet's real statistics.
func (api *benchAPI) checkPlans(b *testing.B, c filterCase) {
	api.log.Reset()
	api.page(b, map[string]any{"first": 100, "filter": c.next(api.random), "after": base64.RawURLEncoding.EncodeToString(
		[]byte("device:" + strconv.FormatInt(api.maxID/2, 10)))})
	ctx := context.Background()
	tx, err := api.store.Pool().Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, st := range api.log.Statements() {
		plan, err := pgtest.Explain(ctx, tx, st)
		if err != nil {
			b.Fatal(err)
		}
		if strings.Contains(plan, "Seq Scan on enrolled_devices") {
			b.Errorf("%s: a statement reads every device:\n%s", c.name, plan)
		}
	}
}
