package graph_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/graph"
)

func TestRevokedAndExpiredTokensAreRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newTestAPI(t)
	const q = `{ devices { totalCount } }`

	good := api.token("mdm.view_enrolleddevice")
	if res := api.query(good, q, nil); len(res.Errors) != 0 {
		t.Fatalf("valid token refused: %+v", res.Errors)
	}

	revoked, rec, err := api.tokens.Issue(ctx, "leaver", []string{"mdm.*"}, time.Hour, "test")
	must(t, err)
	if _, err := api.store.RevokeAPITokens(ctx, rec.JTI, ""); err != nil {
		t.Fatal(err)
	}
	expired, _, err := api.tokens.Issue(ctx, "short", []string{"mdm.*"}, time.Second, "test")
	must(t, err)
	time.Sleep(2100 * time.Millisecond) // JWT expiry has one-second resolution

	for name, tok := range map[string]string{
		"revoked": revoked, "expired": expired, "garbage": "not.a.jwt",
		"tampered": good[:len(good)-4] + "AAAA",
	} {
		res := api.query(tok, q, nil)
		if res.status != 401 || res.code() != graph.CodeUnauthenticated {
			t.Errorf("%s token: status %d, code %q", name, res.status, res.code())
		}
	}
}

// A websocket authenticates once, at connection_init; a token revoked after
// that must stop working on the open connection too.
func TestRevokedTokenStopsWorkingOnAnOpenWebsocket(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api := newTestAPI(t)
	tok, rec, err := api.tokens.Issue(ctx, "leaver", []string{"mdm.*"}, time.Hour, "test")
	must(t, err)
	conn := api.subscribe(ctx, tok, `{ devices { totalCount } }`, nil)
	if res := conn.next(ctx); len(res.Errors) != 0 {
		t.Fatalf("valid token refused on the websocket: %+v", res.Errors)
	}
	if _, err := api.store.RevokeAPITokens(ctx, rec.JTI, ""); err != nil {
		t.Fatal(err)
	}
	conn.send(ctx, "2", `mutation { createBlueprint(input: {name: "after revocation"}) { id } }`)
	if res := conn.nextOf(ctx, "2"); res.code() != graph.CodeUnauthenticated {
		t.Fatalf("revoked token on an open websocket: %+v, want UNAUTHENTICATED", res)
	}
	if n, err := api.store.CountBlueprints(ctx); err != nil || n != 0 {
		t.Fatalf("%d blueprints after the refused mutation (%v)", n, err)
	}
}

// gqlgen reads request bodies whole: an oversized one is refused, not read.
func TestOversizedRequestBodyIsRefused(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	body := `{"query":"{ devices { totalCount } }","variables":{"pad":"` + strings.Repeat("x", 3<<20) + `"}}`
	res, err := http.Post(api.server.URL+"/graphql", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 3 MiB request was answered %d, want 413", res.StatusCode)
	}
}

func TestDepthAndComplexityLimits(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	tok := api.token("mdm.*")
	deep := `{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } } } } } }`
	if res := api.query(tok, deep, nil); len(res.Errors) == 0 {
		t.Fatal("an operation 15+ levels deep was accepted")
	}
	heavy := `{ a: devices(first: 500) { edges { node { id udid name model serialNumber platform osVersion buildVersion
	  supervised blueprint { id name createdAt updatedAt } createdAt updatedAt lastSeenAt } } }
	  b: devices(first: 500) { edges { node { id udid name model serialNumber platform osVersion buildVersion
	  supervised blueprint { id name createdAt updatedAt } createdAt updatedAt lastSeenAt } } }
	  c: devices(first: 500) { edges { node { id udid name model serialNumber platform osVersion buildVersion
	  supervised blueprint { id name createdAt updatedAt } createdAt updatedAt lastSeenAt } } } }`
	if res := api.query(tok, heavy, nil); len(res.Errors) == 0 {
		t.Fatal("an operation over the complexity limit was accepted")
	}
	var ok struct{ Devices struct{ TotalCount int } }
	api.query(tok, `{ devices(first: 500) { totalCount edges { node { id udid name model blueprint { name } } } } }`, nil).decode(t, &ok)
}
