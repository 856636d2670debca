package graph_test

import (
	"context"
	"strings"
	"testing"
)

func apiTokenRows(t *testing.T, api *testAPI) int {
	t.Helper()
	var n int
	must(t, api.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM api_tokens").Scan(&n))
	return n
}

// TestAPITokenLifecycle creates a token over GraphQL, uses it, lists it
// (never the token itself), revokes it and sees it refused.
func TestAPITokenLifecycle(t *testing.T) {
	api := newTestAPI(t)
	keeper := api.token("mdm.change_apitoken", "mdm.view_apitoken", "mdm.view_enrolleddevice")
	var created struct {
		CreateAPIToken struct {
			Token    string
			APIToken struct {
				ID, Name    string
				Permissions []string
				ExpiresAt   string
			}
		}
	}
	api.query(keeper, `mutation { createAPIToken(name: "inventory export", permissions: ["mdm.view_enrolleddevice"], ttlSeconds: 600) {
		token apiToken { id name permissions expiresAt } } }`, nil).decode(t, &created)
	tok, rec := created.CreateAPIToken.Token, created.CreateAPIToken.APIToken
	if tok == "" || rec.ID == "" || rec.Name != "inventory export" || strings.Join(rec.Permissions, ",") != "mdm.view_enrolleddevice" {
		t.Fatalf("created %+v", created.CreateAPIToken)
	}
	if res := api.query(tok, `{ devices { totalCount } }`, nil); len(res.Errors) > 0 {
		t.Fatalf("the new token is refused: %+v", res.Errors)
	}
	if res := api.query(tok, `{ jobs { totalCount } }`, nil); res.code() != "FORBIDDEN" {
		t.Errorf("the new token reaches beyond its permissions: %+v", res.Errors)
	}

	res := api.query(keeper, `{ apiTokens { id name permissions expiresAt revokedAt } }`, nil)
	if strings.Contains(string(res.Data), tok) || strings.Contains(string(res.Data), strings.Split(tok, ".")[2]) {
		t.Fatal("apiTokens shows the token itself")
	}
	var list struct {
		APITokens []struct {
			ID, Name  string
			RevokedAt *string
		}
	}
	res.decode(t, &list)
	if len(list.APITokens) != 2 || list.APITokens[0].ID != rec.ID || list.APITokens[0].RevokedAt != nil {
		t.Fatalf("apiTokens = %+v, want the new token first, then the keeper's", list.APITokens)
	}

	var revoked struct {
		RevokeAPIToken struct{ ID, RevokedAt string }
	}
	api.query(keeper, `mutation($id: ID!) { revokeAPIToken(id: $id) { id revokedAt } }`, map[string]any{"id": rec.ID}).decode(t, &revoked)
	if revoked.RevokeAPIToken.ID != rec.ID || revoked.RevokeAPIToken.RevokedAt == "" {
		t.Fatalf("revoked = %+v", revoked.RevokeAPIToken)
	}
	if res := api.query(tok, `{ devices { totalCount } }`, nil); res.status != 401 || res.code() != "UNAUTHENTICATED" {
		t.Errorf("a revoked token: status %d, %+v; want 401 UNAUTHENTICATED", res.status, res.Errors)
	}
	for id, want := range map[string]string{rec.ID: "BAD_USER_INPUT", "no-such-token": "NOT_FOUND"} {
		if res := api.query(keeper, `mutation($id: ID!) { revokeAPIToken(id: $id) { id } }`, map[string]any{"id": id}); res.code() != want {
			t.Errorf("revoke %s: %+v, want %s", id, res.Errors, want)
		}
	}
}

// TestCreateAPITokenRefusesEscalation keeps a token from minting a stronger
// or longer-lived one, and refuses bad arguments: nothing stored, no audit.
func TestCreateAPITokenRefusesEscalation(t *testing.T) {
	api := newTestAPI(t)
	keeper := api.token("mdm.change_apitoken", "mdm.view_enrolleddevice") // valid for an hour
	for _, tc := range []struct{ name, args, code string }{
		{"a permission the creator lacks", `name: "x", permissions: ["mdm.view_devicecommand"], ttlSeconds: 600`, "FORBIDDEN"},
		{"the wildcard from a non-wildcard", `name: "x", permissions: ["mdm.*"], ttlSeconds: 600`, "FORBIDDEN"},
		{"one permission held, one not", `name: "x", permissions: ["mdm.view_enrolleddevice", "mdm.change_enrolleddevice"], ttlSeconds: 600`, "FORBIDDEN"},
		{"outliving the creator", `name: "x", permissions: ["mdm.view_enrolleddevice"], ttlSeconds: 7200`, "FORBIDDEN"},
		{"the default lifetime (90 days)", `name: "x", permissions: ["mdm.view_enrolleddevice"]`, "FORBIDDEN"},
		{"an unknown permission", `name: "x", permissions: ["mdm.view_everything"], ttlSeconds: 600`, "BAD_USER_INPUT"},
		{"no permission", `name: "x", permissions: [], ttlSeconds: 600`, "BAD_USER_INPUT"},
		{"a blank name", `name: "  ", permissions: ["mdm.view_enrolleddevice"], ttlSeconds: 600`, "BAD_USER_INPUT"},
		{"a control character", `name: "a\nb", permissions: ["mdm.view_enrolleddevice"], ttlSeconds: 600`, "BAD_USER_INPUT"},
		{"a huge name", `name: "` + strings.Repeat("n", 201) + `", permissions: ["mdm.view_enrolleddevice"], ttlSeconds: 600`, "BAD_USER_INPUT"},
		{"a lifetime under a minute", `name: "x", permissions: ["mdm.view_enrolleddevice"], ttlSeconds: 10`, "BAD_USER_INPUT"},
		{"a negative lifetime", `name: "x", permissions: ["mdm.view_enrolleddevice"], ttlSeconds: -5`, "BAD_USER_INPUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens, audits := apiTokenRows(t, api), auditCount(t, api)
			res := api.query(keeper, `mutation { createAPIToken(`+tc.args+`) { token } }`, nil)
			if res.code() != tc.code || strings.Contains(string(res.Data), "token\":\"") {
				t.Errorf("got data %s, errors %+v; want %s", res.Data, res.Errors, tc.code)
			}
			if apiTokenRows(t, api) != tokens || auditCount(t, api) != audits {
				t.Error("a refused createAPIToken stored a token or wrote an audit event")
			}
		})
	}
	// What the creator holds, for less time than its own token, is granted.
	var ok struct{ CreateAPIToken struct{ Token string } }
	api.query(keeper, `mutation { createAPIToken(name: "ci", permissions: ["mdm.view_enrolleddevice", "mdm.view_enrolleddevice"], ttlSeconds: 600) { token } }`, nil).decode(t, &ok)
	if ok.CreateAPIToken.Token == "" {
		t.Fatal("no token")
	}
}

// TestRevokingATokenRevokesTheTokensItMade: a token made with a token (and
// one made with that) goes when its creator is revoked, so a leaked token,
// once revoked, leaves nothing it minted behind; the revoker's own token and
// tokens made apart stay, and the audit event names every token revoked.
func TestRevokingATokenRevokesTheTokensItMade(t *testing.T) {
	api := newTestAPI(t)
	admin := api.token("mdm.*")
	create := func(with, name string, ttl int) (token, id string) {
		var out struct {
			CreateAPIToken struct {
				Token    string
				APIToken struct{ ID string }
			}
		}
		api.query(with, `mutation($n: String!, $ttl: Int) { createAPIToken(name: $n, permissions: ["mdm.change_apitoken", "mdm.view_apitoken"], ttlSeconds: $ttl) {
			token apiToken { id } } }`, map[string]any{"n": name, "ttl": ttl}).decode(t, &out)
		return out.CreateAPIToken.Token, out.CreateAPIToken.APIToken.ID
	}
	leaked, leakedID := create(admin, "leaked", 900) // each may not outlive its creator
	minted, mintedID := create(leaked, "minted by the leaked one", 600)
	grandchild, _ := create(minted, "minted by that one", 300)
	apart, _ := create(admin, "apart", 900)

	var listed struct {
		APITokens []struct {
			ID, Name  string
			CreatedBy *string
		}
	}
	api.query(admin, `{ apiTokens { id name createdBy } }`, nil).decode(t, &listed)
	for _, tok := range listed.APITokens {
		if tok.ID == mintedID && (tok.CreatedBy == nil || *tok.CreatedBy != leakedID) {
			t.Fatalf("apiTokens shows %q created by %v, want %s", tok.Name, tok.CreatedBy, leakedID)
		}
	}

	api.query(admin, `mutation($id: ID!) { revokeAPIToken(id: $id) { id } }`, map[string]any{"id": leakedID}).decode(t, &struct{}{})
	for name, tok := range map[string]string{"leaked": leaked, "minted": minted, "grandchild": grandchild} {
		if res := api.query(tok, `{ apiTokens { id } }`, nil); res.status != 401 {
			t.Errorf("%s token after its ancestor's revocation: status %d, want 401", name, res.status)
		}
	}
	for name, tok := range map[string]string{"admin": admin, "apart": apart} {
		if res := api.query(tok, `{ apiTokens { id } }`, nil); len(res.Errors) > 0 {
			t.Errorf("%s token refused after another's revocation: %+v", name, res.Errors)
		}
	}
	var revoked []string
	must(t, api.store.Pool().QueryRow(context.Background(), `SELECT ARRAY(SELECT jsonb_array_elements_text(data->'revoked'))
		FROM audit_events WHERE action = 'api_token.revoke' AND object_id = $1`, leakedID).Scan(&revoked))
	if len(revoked) != 3 {
		t.Fatalf("the revocation's audit event names %v, want the three tokens", revoked)
	}
}
