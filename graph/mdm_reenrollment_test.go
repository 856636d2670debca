package graph_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/graph"
)

func TestEnrollmentURLIsShownOnceAndLimitsAreKept(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	tok := api.token("mdm.*")
	type enrollment struct {
		ID        string
		URL       *string
		ExpiresAt *time.Time
		MaxUses   *int
		Uses      int
	}
	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	var c struct{ CreateEnrollment enrollment }
	api.query(tok, `mutation($at: Time) { createEnrollment(input: {name: "Lab", expiresAt: $at, maxUses: 3}) {
		id url expiresAt maxUses uses } }`, map[string]any{"at": expires}).decode(t, &c)
	e := c.CreateEnrollment
	if e.URL == nil || !strings.Contains(*e.URL, "/enroll/") || e.MaxUses == nil || *e.MaxUses != 3 || e.Uses != 0 ||
		e.ExpiresAt == nil || !e.ExpiresAt.Equal(expires) {
		t.Fatalf("created %+v", e)
	}
	secret := (*e.URL)[strings.LastIndex(*e.URL, "/")+1:]
	var one struct{ Enrollment enrollment }
	api.query(tok, `query($id: ID!) { enrollment(id: $id) { id url uses } }`, map[string]any{"id": e.ID}).decode(t, &one)
	if one.Enrollment.URL != nil {
		t.Fatalf("the URL (and its secret) is shown after creation: %s", *one.Enrollment.URL)
	}
	var clear int
	must(t, api.store.Pool().QueryRow(context.Background(),
		"SELECT count(*) FROM mdm_enrollments t WHERE strpos(t::text, $1) > 0", secret).Scan(&clear))
	if clear != 0 {
		t.Fatal("the enrollment secret is stored in clear")
	}
	for _, bad := range []string{`{name: "x", maxUses: 0}`, `{name: "x", maxUses: 2147483648}`,
		`{name: "x", expiresAt: "2001-01-01T00:00:00Z"}`} {
		if res := api.query(tok, `mutation { createEnrollment(input: `+bad+`) { id } }`, nil); res.code() != graph.CodeBadUserInput {
			t.Errorf("createEnrollment(%s): %+v, want BAD_USER_INPUT", bad, res.Errors)
		}
	}
}

func TestAllowDeviceReenrollmentIsPermittedAndAudited(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	id := strconv.FormatInt(addDevices(t, api.store, 1, "macOS", nil)[0], 10)
	allow := `mutation($id: ID!) { allowDeviceReenrollment(deviceId: $id) { id reenrollmentAllowedUntil } }`
	if res := api.query(api.token("mdm.view_enrolleddevice"), allow, map[string]any{"id": id}); res.code() != graph.CodeForbidden {
		t.Fatalf("without mdm.change_enrolleddevice: %+v", res.Errors)
	}
	tok := api.token("mdm.change_enrolleddevice", "mdm.view_auditevent")
	var got struct {
		AllowDeviceReenrollment struct {
			ID                       string
			ReenrollmentAllowedUntil *time.Time
		}
	}
	api.query(tok, allow, map[string]any{"id": id}).decode(t, &got)
	until := got.AllowDeviceReenrollment.ReenrollmentAllowedUntil
	if until == nil || until.Before(time.Now().Add(23*time.Hour)) || until.After(time.Now().Add(25*time.Hour)) {
		t.Fatalf("allowed until %v, want about 24 h from now", until)
	}
	for _, bad := range []struct{ id, code string }{{"987654", graph.CodeNotFound}, {"x", graph.CodeBadUserInput}} {
		if res := api.query(tok, allow, map[string]any{"id": bad.id}); res.code() != bad.code {
			t.Errorf("device %s: %+v, want %s", bad.id, res.Errors, bad.code)
		}
	}
	var audit struct {
		AuditEvents struct {
			Edges []struct {
				Node struct{ Action, ObjectID string }
			}
		}
	}
	api.query(tok, `{ auditEvents { edges { node { action objectId } } } }`, nil).decode(t, &audit)
	// Newest first: the allowance, then the tokens this test issued.
	if len(audit.AuditEvents.Edges) == 0 || audit.AuditEvents.Edges[0].Node.Action != "device.allow_reenrollment" ||
		audit.AuditEvents.Edges[0].Node.ObjectID != id {
		t.Fatalf("audit trail: %+v", audit)
	}
}
