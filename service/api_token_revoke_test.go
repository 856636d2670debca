package service_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// TestRevokeAPITokenOnceAudited revokes one token by id: once, with one
// audit event, even when two revocations race; an unknown id and a second
// revocation are refused without an audit event.
func TestRevokeAPITokenOnceAudited(t *testing.T) {
	svc, s := newService(t)
	ctx := context.Background()
	for _, jti := range []string{"keep", "gone"} {
		must(t, svc.RecordAPIToken(ctx, "cli", store.APIToken{JTI: jti, Name: "ci-" + jti, Permissions: []string{"mdm.view_job"},
			ExpiresAt: time.Now().Add(time.Hour)}))
	}
	before := len(auditActions(t, s))

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = svc.RevokeAPIToken(ctx, "token:admin:1", "gone")
		}()
	}
	wg.Wait()
	var refused *service.Error
	if (errs[0] == nil) == (errs[1] == nil) || !(errors.As(errs[0], &refused) || errors.As(errs[1], &refused)) || refused.Kind != service.Invalid {
		t.Fatalf("two racing revocations: %v, %v; want one success and one Invalid refusal", errs[0], errs[1])
	}
	actions := auditActions(t, s)
	if len(actions) != before+1 || actions[len(actions)-1] != "api_token.revoke" {
		t.Fatalf("audit after revocation: %v", actions[before:])
	}

	_, err := svc.RevokeAPIToken(ctx, "token:admin:1", "no-such")
	if !errors.As(err, &refused) || refused.Kind != service.NotFound {
		t.Errorf("unknown id: %v, want NotFound", err)
	}
	if len(auditActions(t, s)) != before+1 {
		t.Error("a refused revocation wrote an audit event")
	}
	list, err := s.ListAPITokens(ctx)
	must(t, err)
	for _, tok := range list {
		if (tok.RevokedAt != nil) != (tok.JTI == "gone") {
			t.Errorf("token %s revoked at %v", tok.JTI, tok.RevokedAt)
		}
	}
}
