package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newLimitedAPI serves the GraphQL handler alone (no River) with limits,
// logging into the returned buffer.
func newLimitedAPI(t *testing.T, limits graph.Limits) (*testAPI, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	s := pgtest.New(t)
	tokens, err := auth.NewTokens(context.Background(), s, service.New(service.Config{Store: s}))
	must(t, err)
	resolver := &graph.Resolver{Store: s, Logger: logger}
	srv := httptest.NewServer(graph.NewHandler(graph.HandlerConfig{Resolver: resolver, Tokens: tokens, Logger: logger, Limits: limits}))
	t.Cleanup(srv.Close)
	return &testAPI{t: t, store: s, tokens: tokens, server: srv}, logs
}

// post sends body as it is and returns the status and the raw answer.
func (a *testAPI) post(token, contentType string, body []byte) (int, []byte) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.server.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	must(a.t, err)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	must(a.t, err)
	return res.StatusCode, out
}

func repeat(part string, n int) string { return "{ " + strings.Repeat(part, n) + " }" }

// refusedForLimit fails unless res is one error naming the limit exceeded:
// the document was refused before validation, which reports every conflict.
func refusedForLimit(t *testing.T, name string, res gqlResponse, limit string) {
	t.Helper()
	if len(res.Errors) != 1 || res.code() != "GRAPHQL_VALIDATION_FAILED" || res.Errors[0].Extensions["limit"] != limit {
		n := len(res.Errors)
		res.Errors = res.Errors[:min(n, 2)]
		t.Fatalf("%s: %d errors, first %+v; want one refusal for %s", name, n, res.Errors, limit)
	}
}

// Issue 9: 2,000 pairs of one alias on different arguments cost 26 s of CPU,
// 3.8 GB and a 480 MB answer of validation errors, with no token.
func TestRepeatedAliasDocumentIsRefusedBeforeValidation(t *testing.T) {
	t.Parallel()
	api, _ := newLimitedAPI(t, graph.DefaultLimits())
	tok := api.token("mdm.view_enrolleddevice")
	attack := repeat(`a: device(id:"0"){id} a: device(id:"1"){id} `, 1000)

	body, _ := json.Marshal(map[string]any{"query": attack})
	if status, out := api.post("", "application/json", body); status != http.StatusRequestEntityTooLarge || len(out) > 1024 {
		t.Fatalf("anonymous %d-byte document: %d, %d bytes", len(attack), status, len(out))
	}
	refusedForLimit(t, "with a token", api.query(tok, attack, nil), "aliases")
	refusedForLimit(t, "anonymous, small", api.query("", repeat(`a: device(id:"0"){id} `, 20), nil), "aliases")
}

// Within the bounds, conflicting fields still make validation report a
// conflict per pair: the list is cut, not built whole.
func TestValidationErrorsAreCapped(t *testing.T) {
	t.Parallel()
	limits := graph.DefaultLimits()
	api, _ := newLimitedAPI(t, limits)
	var doc strings.Builder
	for i := range 150 { // 11,175 conflicting pairs
		fmt.Fprintf(&doc, `a: device(id:"%d"){id} `, i)
	}
	res := api.query(api.token("mdm.view_enrolleddevice"), "{ "+doc.String()+" }", nil)
	if len(res.Errors) == 0 || len(res.Errors) > limits.Errors+1 {
		t.Fatalf("%d errors, want 1..%d", len(res.Errors), limits.Errors+1)
	}
}

// Issue 9: 32,000 __typename cost 105 s of CPU, after the client had gone.
func TestRepeatedTypenameIsRefusedOnEveryTransport(t *testing.T) {
	t.Parallel()
	api, _ := newLimitedAPI(t, graph.DefaultLimits())
	tok := api.token("mdm.view_enrolleddevice")
	huge, many := repeat("__typename ", 32000), repeat("__typename ", 2500)

	refusedForLimit(t, "352 KB, token", api.query(tok, huge, nil), "bytes")
	refusedForLimit(t, "2,500 fields, token", api.query(tok, many, nil), "fields")
	refusedForLimit(t, "300 fields, anonymous", api.query("", repeat("__typename ", 300), nil), "fields")
	refusedForLimit(t, "nested, token", api.query(tok, strings.Repeat("{ a ", 100)+strings.Repeat("} ", 100), nil), "levels of nesting")

	res, err := http.Get(api.server.URL + "/graphql?query=" + url.QueryEscape(many))
	must(t, err)
	var got gqlResponse
	must(t, json.NewDecoder(res.Body).Decode(&got))
	res.Body.Close()
	refusedForLimit(t, "GET, anonymous", got, "bytes")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	refusedForLimit(t, "websocket, token", api.subscribe(ctx, tok, many, nil).next(ctx), "fields")
}

// Variables are bounded like the document: counted before any is coerced.
func TestVariablesAreBounded(t *testing.T) {
	t.Parallel()
	api, _ := newLimitedAPI(t, graph.DefaultLimits())
	list := make([]any, 500)
	for i := range list {
		list[i] = map[string]any{"k": []any{i}}
	}
	res := api.query("", `query($x: ID!) { device(id: $x) { id } }`, map[string]any{"x": "1", "pad": list})
	refusedForLimit(t, "anonymous variables", res, "variable values")
	// Small anonymous requests keep their old answer.
	if res := api.query("", `query($x: ID!) { device(id: $x) { id } }`, map[string]any{"x": "1"}); res.code() != graph.CodeUnauthenticated {
		t.Fatalf("a small anonymous query: %+v, want UNAUTHENTICATED", res.Errors)
	}
}

// A fragment spreading the next one twice, 40 levels down, is 2^40 fields
// from a 2 KB document that a caller without a token may send: gqlgen's
// complexity count walked every one of them.
func TestFragmentFanOutIsRefusedBeforeItIsExpanded(t *testing.T) {
	t.Parallel()
	api, _ := newLimitedAPI(t, graph.DefaultLimits())
	doc := func(levels int) string {
		var doc strings.Builder
		doc.WriteString("{ ...F0 }\n")
		for i := range levels {
			fmt.Fprintf(&doc, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
		}
		fmt.Fprintf(&doc, "fragment F%d on Query { __typename }\n", levels)
		return doc.String()
	}
	refusedForLimit(t, "anonymous", api.query("", doc(40), nil), "expanded fields")
	refusedForLimit(t, "with a token", api.query(api.token("mdm.view_enrolleddevice"), doc(40), nil), "expanded fields")
	var out struct {
		Typename string `json:"__typename"`
	}
	api.query(api.token("mdm.view_enrolleddevice"), doc(6), nil).decode(t, &out)
	if out.Typename != "Query" {
		t.Fatalf("__typename = %q", out.Typename)
	}
}

// Issue 9: a malformed body was logged whole at ERROR, secrets included, and
// a 1.5 MB anonymous body became a 1.5 MB log line.
func TestRequestBodiesNeverReachTheLog(t *testing.T) {
	t.Parallel()
	api, logs := newLimitedAPI(t, graph.DefaultLimits())
	tok := api.token("mdm.view_enrolleddevice")
	const secret = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBg password=hunter2"
	for name, body := range map[string]string{
		"not JSON":     `{"query": "{ devices { totalCount } }", ` + secret,
		"wrong types":  `{"query": 5, "variables": "` + secret + `"}`,
		"not a object": `["` + secret + `"]`,
	} {
		for _, token := range []string{"", tok} {
			status, out := api.post(token, "application/json", []byte(body))
			if status != http.StatusBadRequest || strings.Contains(string(out), "hunter2") {
				t.Errorf("%s: %d %s", name, status, out)
			}
			var res gqlResponse
			if err := json.Unmarshal(out, &res); err != nil || res.code() != graph.CodeBadRequest {
				t.Errorf("%s: answer %s, want code %s", name, out, graph.CodeBadRequest)
			}
		}
	}
	big := `{"query": "{ __typename }", "x": "` + strings.Repeat(secret, 25000) + `"}`
	if status, _ := api.post("", "application/json", []byte(big)); status != http.StatusRequestEntityTooLarge {
		t.Errorf("a 1.5 MB anonymous body: %d, want 413", status)
	}
	if strings.Contains(logs.String(), "hunter2") || len(logs.String()) > 4096 {
		t.Fatalf("the log holds %d bytes, the secret: %v", len(logs.String()), strings.Contains(logs.String(), "hunter2"))
	}
}

// GraphiQL loads the schema before anyone pastes a token: its introspection
// query (GraphiQL 3.9's, as served at /) fits the anonymous bounds.
func TestGraphiQLIntrospectionFitsTheAnonymousBounds(t *testing.T) {
	t.Parallel()
	api, _ := newLimitedAPI(t, graph.DefaultLimits())
	var out struct {
		Schema struct{ Types []struct{ Name string } } `json:"__schema"`
	}
	api.query("", graphiqlIntrospection, nil).decode(t, &out)
	if len(out.Schema.Types) < 10 {
		t.Fatalf("%d types", len(out.Schema.Types))
	}
}

const graphiqlIntrospection = `query IntrospectionQuery {
  __schema {
    description
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) {
    name
    description
    isDeprecated
    deprecationReason
  }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}`

// Each operation of a websocket holds a goroutine and, for a subscription,
// a place at the event broker: one connection runs a bounded number.
func TestOneWebsocketRunsABoundedNumberOfOperations(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api := newTestAPI(t)
	const op = `subscription { jobEvents(kinds: ["nothing"]) { type } }`
	sub := api.subscribe(ctx, api.token("mdm.*"), op, nil)
	for i := 2; i <= 101; i++ {
		sub.send(ctx, fmt.Sprint(i), op)
	}
	for {
		var msg wsMessage
		if err := wsjson.Read(ctx, sub.conn, &msg); err != nil {
			t.Fatalf("no operation of 101 was refused: %v", err)
		}
		var errs []gqlError
		switch msg.Type {
		case "next":
			var res gqlResponse
			must(t, json.Unmarshal(msg.Payload, &res))
			errs = res.Errors
		case "error":
			must(t, json.Unmarshal(msg.Payload, &errs))
		}
		if len(errs) > 0 && errs[0].Extensions["limit"] == "operations per connection" {
			return
		}
	}
}
