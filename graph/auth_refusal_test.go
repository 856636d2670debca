package graph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// A refused token says what its holder can fix (the header's form, expiry,
// revocation) and no more; a database outage is 503, not the token's fault.
func TestTokenRefusalsSayWhyAndOutagesAre503(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	s, err := store.Open(ctx, dsn, pgtest.Sealer(t), store.Options{MaxConns: 4})
	must(t, err)
	tokens, err := auth.NewTokens(ctx, s, service.New(service.Config{Store: s}))
	must(t, err)
	good, _, err := tokens.Issue(ctx, "ci", []string{"mdm.*"}, time.Hour, "test")
	must(t, err)
	revoked, rec, err := tokens.Issue(ctx, "leaver", []string{"mdm.*"}, time.Hour, "test")
	must(t, err)
	_, err = s.RevokeAPITokens(ctx, rec.JTI, "")
	must(t, err)
	expired, _, err := tokens.Issue(ctx, "short", []string{"mdm.*"}, time.Second, "test")
	must(t, err)
	time.Sleep(1100 * time.Millisecond) // let the one-second token lapse
	h := tokens.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))

	for _, tc := range []struct {
		name, header string
		status       int
		want         string
	}{
		{"good", "Bearer " + good, http.StatusNoContent, ""},
		{"no Bearer prefix", good, http.StatusUnauthorized, "Bearer <token>"},
		{"forged", "Bearer " + good[:len(good)-4] + "AAAA", http.StatusUnauthorized, "not valid"},
		{"garbage", "Bearer x.y.z", http.StatusUnauthorized, "not valid"},
		{"expired", "Bearer " + expired, http.StatusUnauthorized, "expired"},
		{"revoked", "Bearer " + revoked, http.StatusUnauthorized, "revoked"},
	} {
		status, msg := authAnswer(h, tc.header)
		if status != tc.status || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %q, want %d mentioning %q", tc.name, status, msg, tc.status, tc.want)
		}
	}
	s.Close() // the database is gone: a good token is not refused as bad
	if status, msg := authAnswer(h, "Bearer "+good); status != http.StatusServiceUnavailable || !strings.Contains(msg, "unavailable") {
		t.Fatalf("during an outage: %d %q, want 503", status, msg)
	}
}

func authAnswer(h http.Handler, header string) (int, string) {
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	req.Header.Set("Authorization", header)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body struct{ Errors []struct{ Message string } }
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if len(body.Errors) == 0 {
		return rec.Code, ""
	}
	return rec.Code, body.Errors[0].Message
}
