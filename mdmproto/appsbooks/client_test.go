package appsbooks_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
	"github.com/orchardmdm/orchard/mdmproto/appsbooks/vppsim"
)

func simClient(t *testing.T, sim *vppsim.Server, stoken string) *appsbooks.Client {
	t.Helper()
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	c := appsbooks.New(appsbooks.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), SToken: stoken})
	c.Backoff = func(int) time.Duration { return time.Millisecond }
	return c
}

func TestContentTokenParsing(t *testing.T) {
	good := appsbooks.EncodeContentToken("abc", "Org", time.Now().Add(time.Hour))
	tok, err := appsbooks.ParseContentToken([]byte(" " + good + "\n"))
	if err != nil || tok.Token != "abc" || tok.OrgName != "Org" || tok.SToken != good {
		t.Fatalf("good token: %+v %v", tok, err)
	}
	if err := tok.CheckExpiry(time.Now()); err != nil {
		t.Errorf("fresh token refused: %v", err)
	}
	expired := appsbooks.EncodeContentToken("abc", "Org", time.Now().Add(-time.Hour))
	tok, _ = appsbooks.ParseContentToken([]byte(expired))
	if tok.CheckExpiry(time.Now()) == nil {
		t.Error("expired token accepted")
	}
	for name, in := range map[string]string{"not base64": "%%%", "not json": "aGVsbG8=", "no token": "e30=",
		"huge": string(make([]byte, appsbooks.MaxTokenFile+1))} {
		if _, err := appsbooks.ParseContentToken([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestClientAgainstSimulator(t *testing.T) {
	ctx := context.Background()
	sim := vppsim.New()
	sim.PageSize = 40
	loc, stoken := sim.NewLocation(vppsim.Location{Name: "Paris", OrgName: "Acme", Country: "FR", Platform: "enterprisestore",
		Website: "https://business.apple.com"})
	sim.AddAssets(loc, 100, 10)
	c := simClient(t, sim, stoken)

	cfg, err := c.ClientConfig(ctx)
	if err != nil || cfg.LocationName != "Paris" || cfg.UID != loc.UID || cfg.CountryISO2ACode != "FR" {
		t.Fatalf("client config: %+v %v", cfg, err)
	}
	_, err = c.SetClientConfig(ctx, appsbooks.ClientConfigRequest{MdmInfo: &appsbooks.MdmInfo{ID: "m1", Name: "orchard"},
		NotificationURL: "https://orchard.example/n", NotificationAuthToken: "secret"})
	if err != nil || sim.Registered(loc).NotificationAuthToken != "secret" {
		t.Fatalf("register: %v", err)
	}
	checkAssetsPagedThrough(t, ctx, c)

	// A throttled call is retried after Retry-After; a longer wait than
	// MaxWait comes back as a typed error carrying it.
	sim.Throttle(1, 0)
	if _, err := c.Assets(ctx, 0); err != nil {
		t.Errorf("throttled once: %v", err)
	}
	sim.Throttle(1, 3600)
	_, err = c.Assets(ctx, 0)
	if wait, ok := appsbooks.RateLimited(err); !ok || wait != time.Hour {
		t.Errorf("long Retry-After: %v", err)
	}
	sim.Throttle(0, 0)

	ev, err := c.Associate(ctx, appsbooks.ManageRequest{Assets: []appsbooks.AssetRef{{AdamID: "400000000", PricingParam: "STDQ"}},
		SerialNumbers: []string{"C02A", "C02B"}})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := c.Status(ctx, ev.EventID)
	if st.EventStatus != appsbooks.EventPending {
		t.Errorf("first poll: %+v", st)
	}
	st, _ = c.Status(ctx, ev.EventID)
	if st.EventStatus != appsbooks.EventComplete || st.NumCompleted != 2 || len(sim.Assigned(loc, "400000000")) != 2 {
		t.Errorf("second poll: %+v", st)
	}
	as, err := c.Assignments(ctx, 0)
	if err != nil || len(as.Assignments) != 2 || as.Assignments[0].SerialNumber != "C02A" {
		t.Errorf("assignments: %+v %v", as, err)
	}
}

// checkAssetsPagedThrough pages through the assets: three pages, each with a version, 100 assets in all.
func checkAssetsPagedThrough(t *testing.T, ctx context.Context, c *appsbooks.Client) {
	t.Helper()
	seen := 0
	for idx := 0; ; {
		p, err := c.Assets(ctx, idx)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(p.Assets)
		if p.TotalPages != 3 || p.VersionID == "" {
			t.Fatalf("page %+v", p.Page)
		}
		if p.NextPageIndex == nil {
			break
		}
		idx = *p.NextPageIndex
	}
	if seen != 100 {
		t.Errorf("paged through %d assets, want 100", seen)
	}
}

func TestClientTypedErrors(t *testing.T) {
	ctx := context.Background()
	sim := vppsim.New()
	loc, stoken := sim.NewLocation(vppsim.Location{Name: "X", OrgName: "Acme"})
	var apiErr *appsbooks.Error
	_, err := simClient(t, sim, appsbooks.EncodeContentToken("forged", "Acme", time.Now().AddDate(1, 0, 0))).ClientConfig(ctx)
	if !errors.As(err, &apiErr) || apiErr.Number != appsbooks.ErrNumInvalidToken || !appsbooks.TokenRefused(err) {
		t.Errorf("forged token: %v", err)
	}
	sim.Revoke(loc)
	if _, err := simClient(t, sim, stoken).ClientConfig(ctx); !appsbooks.TokenRefused(err) {
		t.Errorf("revoked token: %v", err)
	}
	_, err = simClient(t, sim, stoken).Associate(ctx, appsbooks.ManageRequest{})
	if !errors.As(err, &apiErr) {
		t.Errorf("bad request: %v", err)
	}
}
