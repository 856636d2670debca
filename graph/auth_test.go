package graph_test

import (
	"context"
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
	if _, err := api.store.RevokeAPITokens(ctx, rec.JTI, "", "test"); err != nil {
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
