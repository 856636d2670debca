package graph_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// FuzzGraphQLRequest sends documents and variables, with and without a
// read-only token, through the whole handler. Whatever comes in, the answer
// is a bounded JSON GraphQL response with a sane status and every error
// carries extensions.code. `go test`
// runs the seeds below; `go test -fuzz FuzzGraphQLRequest ./graph/` explores.
func FuzzGraphQLRequest(f *testing.F) {
	for _, seed := range []struct {
		query, vars string
		token       bool
		raw         bool
	}{
		{`{ devices { totalCount } }`, `{}`, true, false},
		{`{ devices { totalCount } }`, `{}`, false, false},
		{`query($id: ID!) { device(id: $id) { id udid } }`, `{"id": "1"}`, true, false},
		{`query($id: ID!) { device(id: $id) { id } }`, `{"id": {"a": [[[[1]]]]}}`, true, false},
		{repeat(`a: device(id:"0"){id} a: device(id:"1"){id} `, 60), `{}`, true, false},
		{repeat("__typename ", 3000), `null`, false, false},
		{strings.Repeat("{", 200), `{}`, true, false},
		{`{ ...F } fragment F on Query { ...G ...G } fragment G on Query { __typename }`, `{}`, false, false},
		{`{ __schema { types { fields { type { ofType { ofType { name } } } } } } }`, `{}`, false, false},
		{`mutation { createBlueprint(input: {name: "x"}) { id } }`, `{}`, true, false},
		{`subscription { jobEvents { id } }`, `{}`, true, false},
		{`{"query": "{ devices { totalCount } }", -----BEGIN PRIVATE KEY----- password=hunter2`, ``, false, true},
		{`[{"query": "{ __typename }"}, {"query": "{ __typename }"}]`, ``, true, true},
		{`{"query": "{ __typename }", "variables": ` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `}`, ``, false, true},
		{"{ a(x: \"\\u0000\") }", `{"x": "\u0000"}`, true, false},
	} {
		f.Add(seed.query, seed.vars, seed.token, seed.raw)
	}
	limits := graph.DefaultLimits()
	h, token := fuzzHandler(f, limits)
	f.Fuzz(func(t *testing.T, query, vars string, withToken, raw bool) {
		body := requestBody(query, vars, raw)
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if withToken {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		ctx, cancel := context.WithTimeout(req.Context(), 30*time.Second)
		defer cancel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(ctx))
		checkAnswer(t, rec, limits)
	})
}

func fuzzHandler(f *testing.F, limits graph.Limits) (http.Handler, string) {
	s := pgtest.New(f)
	tokens, err := auth.NewTokens(context.Background(), s, service.New(service.Config{Store: s}))
	if err != nil {
		f.Fatal(err)
	}
	token, _, err := tokens.Issue(context.Background(), "fuzz", []string{"mdm.view_enrolleddevice"}, time.Hour, "test")
	if err != nil {
		f.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	return graph.NewHandler(graph.HandlerConfig{Resolver: &graph.Resolver{Store: s, Logger: logger},
		Tokens: tokens, Logger: logger, Limits: limits}), token
}

// requestBody is the fuzzed text as the body itself (raw), or a request
// carrying it as the query, with vars as its variables when they are JSON.
func requestBody(query, vars string, raw bool) string {
	if raw {
		return query
	}
	req := map[string]any{"query": query}
	if json.Valid([]byte(vars)) {
		req["variables"] = json.RawMessage(vars)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return query
	}
	return string(b)
}

func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, limits graph.Limits) {
	t.Helper()
	switch rec.Code {
	case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge,
		http.StatusNotAcceptable, http.StatusUnprocessableEntity:
	default:
		t.Fatalf("status %d: %.300s", rec.Code, rec.Body.String())
	}
	if n := rec.Body.Len(); n > limits.ResponseBytes+(limits.Errors+1)*4096 {
		t.Fatalf("a %d-byte answer", n)
	}
	var res gqlResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatalf("the answer is not JSON (%v): %.300s", err, rec.Body.String())
	}
	if len(res.Errors) > limits.Errors+1 {
		t.Fatalf("%d errors", len(res.Errors))
	}
	if len(res.Errors) == 0 && (len(res.Data) == 0 || string(res.Data) == "null") {
		t.Fatalf("neither data nor errors: %.300s", rec.Body.String())
	}
	for _, e := range res.Errors {
		if code, _ := e.Extensions["code"].(string); code == "" {
			t.Fatalf("an error without extensions.code: %+v", e)
		}
	}
}
