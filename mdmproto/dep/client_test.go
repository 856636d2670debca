package dep_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/mdmproto/dep/depsim"
)

func newSim(t *testing.T, devices int) (*depsim.Server, *dep.Client) {
	t.Helper()
	sim := depsim.New(depsim.Config{Devices: devices})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c := dep.New(dep.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), Credentials: sim.Credentials()})
	c.Backoff = func(int) time.Duration { return time.Millisecond }
	return sim, c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func fetchAll(t *testing.T, c *dep.Client) (map[string]dep.Device, string, int) {
	t.Helper()
	seen := map[string]dep.Device{}
	cursor, pages := "", 0
	for {
		p, err := c.FetchDevices(ctx(t), dep.MaxPage, cursor)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, d := range p.Devices {
			seen[d.SerialNumber] = d
		}
		cursor = p.Cursor
		if !p.MoreToFollow {
			return seen, cursor, pages
		}
	}
}

func TestFetch2500DevicesInThreePages(t *testing.T) {
	t.Parallel()
	_, c := newSim(t, 2500)
	seen, _, pages := fetchAll(t, c)
	if len(seen) != 2500 || pages != 3 {
		t.Fatalf("fetched %d devices in %d pages, want 2500 in 3", len(seen), pages)
	}
	d := seen["SIM000000042"]
	if d.Model == "" || d.ProfileStatus != dep.ProfileEmpty || d.DeviceAssignedDate == nil {
		t.Fatalf("device fields missing: %+v", d)
	}
}

func TestFinishedFetchCursorIsExhaustedAndSyncsChanges(t *testing.T) {
	t.Parallel()
	sim, c := newSim(t, 10)
	_, cursor, _ := fetchAll(t, c)
	if _, err := c.FetchDevices(ctx(t), 100, cursor); !dep.HasCode(err, dep.CodeExhaustedCursor) {
		t.Fatalf("fetch with a finished cursor: %v, want EXHAUSTED_CURSOR", err)
	}
	added := sim.AddDevices(2)
	must(t, sim.ModifyDevice("SIM000000001", "TAG-1"))
	must(t, sim.DeleteDevice("SIM000000002"))
	p, err := c.SyncDevices(ctx(t), 100, cursor)
	must(t, err)
	ops := map[string]string{}
	for _, d := range p.Devices {
		ops[d.SerialNumber] = d.OpType
		if d.OpDate == nil {
			t.Fatalf("sync without op_date: %+v", d)
		}
	}
	want := map[string]string{added[0]: dep.OpAdded, added[1]: dep.OpAdded, "SIM000000001": dep.OpModified, "SIM000000002": dep.OpDeleted}
	if len(ops) != len(want) {
		t.Fatalf("sync ops %v, want %v", ops, want)
	}
	for k, v := range want {
		if ops[k] != v {
			t.Fatalf("sync ops %v, want %v", ops, want)
		}
	}
	next, err := c.SyncDevices(ctx(t), 100, p.Cursor)
	must(t, err)
	if len(next.Devices) != 0 || next.MoreToFollow {
		t.Fatalf("second sync returned %d changes", len(next.Devices))
	}
}

func TestExpiredSessionIsRenewedOnceAndRetried(t *testing.T) {
	t.Parallel()
	sim, c := newSim(t, 5)
	_, err := c.Account(ctx(t))
	must(t, err)
	sim.ExpireSessions()
	_, err = c.Account(ctx(t))
	must(t, err)
	if n := sim.Requests("/session"); n != 2 {
		t.Fatalf("%d sessions, want 2", n)
	}
	// A session that is refused again is an error, not a loop.
	sim.FailNext(2, http.StatusUnauthorized, "")
	_, err = c.Account(ctx(t))
	var apiErr *dep.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want a 401", err)
	}
}

func TestSessionTokenFromAnswersIsKept(t *testing.T) {
	t.Parallel()
	sim := depsim.New(depsim.Config{Devices: 1})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	sessions := &dep.MemorySessions{}
	c := dep.New(dep.Config{BaseURL: srv.URL, Credentials: sim.Credentials(), Sessions: sessions})
	_, err := c.Account(ctx(t))
	must(t, err)
	first, _ := sessions.GetSession(ctx(t))
	_, err = c.Account(ctx(t))
	must(t, err)
	second, _ := sessions.GetSession(ctx(t))
	if first == "" || first == second || sim.Requests("/session") != 1 {
		t.Fatalf("sessions %q then %q after %d session calls", first, second, sim.Requests("/session"))
	}
}

func TestWrongSecretIsRefused(t *testing.T) {
	t.Parallel()
	sim := depsim.New(depsim.Config{Devices: 1})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	creds := sim.Credentials()
	creds.AccessSecret = "AS_wrong"
	c := dep.New(dep.Config{BaseURL: srv.URL, Credentials: creds})
	_, err := c.Account(ctx(t))
	var apiErr *dep.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || apiErr.Call != "session" {
		t.Fatalf("err = %v, want the session refused", err)
	}
}

func TestTooManyRequestsIsRetriedAfterRetryAfter(t *testing.T) {
	t.Parallel()
	sim, c := newSim(t, 5)
	c.Backoff = func(int) time.Duration { return time.Hour } // only Retry-After can make this quick
	sim.FailNext(2, http.StatusTooManyRequests, "0")
	if _, err := c.Account(ctx(t)); err != nil {
		t.Fatal(err)
	}
	c.Backoff = func(int) time.Duration { return time.Millisecond }
	c.MaxRetries = 2
	sim.FailNext(4, http.StatusInternalServerError, "")
	_, err := c.Account(ctx(t))
	var apiErr *dep.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusInternalServerError {
		t.Fatalf("err = %v, want a 500 after two retries", err)
	}
}

func TestTypedErrors(t *testing.T) {
	t.Parallel()
	sim, c := newSim(t, 5)
	_, cursor, _ := fetchAll(t, c)
	sim.ExpireCursors()
	if _, err := c.SyncDevices(ctx(t), 100, cursor); !dep.CursorReset(err) || !dep.HasCode(err, dep.CodeExpiredCursor) {
		t.Fatalf("err = %v, want EXPIRED_CURSOR", err)
	}
	if _, err := c.SyncDevices(ctx(t), 100, "bm90IGEgY3Vyc29y"); !dep.HasCode(err, dep.CodeInvalidCursor) {
		t.Fatalf("err = %v, want INVALID_CURSOR", err)
	}
	sim.SetTermsUnsigned(true)
	_, err := c.Account(ctx(t))
	if !dep.HasCode(err, dep.CodeTermsNotSigned) {
		t.Fatalf("err = %v, want T_C_NOT_SIGNED", err)
	}
	if n := sim.Requests("/session"); n != 1 {
		t.Fatalf("T_C_NOT_SIGNED made %d sessions; it is not a session error", n)
	}
}

func TestProfileDefineAssignRemove(t *testing.T) {
	t.Parallel()
	sim, c := newSim(t, 3)
	def, err := c.DefineProfile(ctx(t), &dep.Profile{ProfileName: "Staff", URL: "https://mdm.example.com/enroll/dep",
		IsSupervised: true, IsMandatory: true, SkipSetupItems: []string{"Siri"}, Devices: []string{"SIM000000000"}})
	must(t, err)
	if def.Devices["SIM000000000"] != dep.ResultSuccess {
		t.Fatalf("define result %+v", def)
	}
	got, err := c.GetProfile(ctx(t), def.ProfileUUID)
	must(t, err)
	if got.ProfileName != "Staff" || !got.IsSupervised || len(got.SkipSetupItems) != 1 {
		t.Fatalf("profile %+v", got)
	}
	res, err := c.AssignProfile(ctx(t), def.ProfileUUID, []string{"SIM000000001", "NOPE"})
	must(t, err)
	if res.Devices["SIM000000001"] != dep.ResultSuccess || res.Devices["NOPE"] != dep.ResultNotAccessible {
		t.Fatalf("assign result %+v", res)
	}
	details, err := c.DeviceDetails(ctx(t), []string{"SIM000000001"})
	must(t, err)
	if d := details["SIM000000001"]; d.ProfileStatus != dep.ProfileAssigned || d.ProfileUUID != def.ProfileUUID {
		t.Fatalf("details after assign %+v", d)
	}
	_, err = c.RemoveProfile(ctx(t), []string{"SIM000000001"})
	must(t, err)
	if d, _ := sim.Device("SIM000000001"); d.ProfileStatus != dep.ProfileRemoved {
		t.Fatalf("status after remove %q", d.ProfileStatus)
	}
	if _, err := c.AssignProfile(ctx(t), def.ProfileUUID, nil); err == nil {
		t.Fatal("assign without serials was sent")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSimulatorInjectsFailuresEveryNthCall(t *testing.T) {
	t.Parallel()
	sim := depsim.New(depsim.Config{Devices: 2500, FailEvery: 3, FailStatus: http.StatusServiceUnavailable})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c := dep.New(dep.Config{BaseURL: srv.URL, Credentials: sim.Credentials()})
	c.MaxWait = 10 * time.Millisecond // Retry-After: 1, shortened
	seen, _, pages := fetchAll(t, c)
	if len(seen) != 2500 || pages != 3 {
		t.Fatalf("fetched %d in %d pages through injected 503s", len(seen), pages)
	}
}

func TestForbiddenRenewsTheSessionButAccessDeniedIsAnError(t *testing.T) {
	t.Parallel()
	sim, c := newSim(t, 1)
	_, err := c.Account(ctx(t))
	must(t, err)
	sim.FailNextCode(1, http.StatusForbidden, dep.CodeForbidden)
	_, err = c.Account(ctx(t))
	must(t, err)
	if n := sim.Requests("/session"); n != 2 {
		t.Fatalf("403 FORBIDDEN made %d sessions, want 2", n)
	}
	sim.FailNextCode(1, http.StatusForbidden, dep.CodeAccessDenied)
	_, err = c.Account(ctx(t))
	if !dep.HasCode(err, dep.CodeAccessDenied) || dep.HasCode(err, dep.CodeTermsNotSigned) || sim.Requests("/session") != 2 {
		t.Fatalf("err = %v after %d sessions, want ACCESS_DENIED and no new session", err, sim.Requests("/session"))
	}
	if !strings.Contains(err.Error(), "upload a new token") {
		t.Fatalf("ACCESS_DENIED without advice: %v", err)
	}
}
