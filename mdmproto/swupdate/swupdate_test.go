package swupdate_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/swupdate"
	"github.com/orchardmdm/orchard/mdmproto/swupdate/swupdatesim"
)

func newClient(t *testing.T, h http.Handler, maxBody int64) *swupdate.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := swupdate.New(swupdate.Config{BaseURL: srv.URL, MaxBody: maxBody})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFetchSample(t *testing.T) {
	now := time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC)
	c := newClient(t, swupdatesim.New(swupdatesim.Sample(now)), 0)
	cat, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	entries, err := cat.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 9 {
		t.Fatalf("%d entries, want 9: %+v", len(entries), entries)
	}
	var rsr *swupdate.Entry
	for i := range entries {
		if entries[i].Extra != "" {
			rsr = &entries[i]
		}
	}
	if rsr == nil || rsr.Build != "22C161050a" || rsr.PrerequisiteBuild != "22C161" || !rsr.Public || rsr.Platform != "iOS" {
		t.Fatalf("background security improvement = %+v", rsr)
	}
	if got := rsr.PostingDate.Format(time.DateOnly); got != "2026-01-19" {
		t.Errorf("posting date %s", got)
	}
}

func TestFetchFailures(t *testing.T) {
	sim := swupdatesim.New(swupdatesim.Sample(time.Now()))
	c := newClient(t, sim, 0)
	sim.Fail(http.StatusServiceUnavailable)
	if _, err := c.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("failing server: %v", err)
	}
	sim.Fail(0)
	sim.Truncate(true)
	if _, err := c.Fetch(context.Background()); err == nil {
		t.Error("truncated answer accepted")
	}
	small := newClient(t, swupdatesim.New(swupdatesim.Sample(time.Now())), 100)
	if _, err := small.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversize answer: %v", err)
	}
}

func TestParse(t *testing.T) {
	entry := func(fields string) string {
		return `{"PublicAssetSets":{"iOS":[{` + fields + `}]}}`
	}
	ok := `"ProductVersion":"18.2","Build":"22C152","PostingDate":"2025-01-06","SupportedDevices":["iPhone14,2","iPhone14,2"]`
	for _, tc := range []struct {
		name, body, wantErr string
	}{
		{"valid with unknown keys", `{"Future":1,"PublicAssetSets":{"iOS":[{` + ok + `,"New":"x"}]},"AssetSets":{}}`, ""},
		{"truncated", entry(ok)[:40], "unexpected EOF"},
		{"trailing data", entry(ok) + `{}`, "after the JSON object"},
		{"not an object", `[]`, "cannot unmarshal"},
		{"empty object", `{}`, "neither"},
		{"wrong type", `{"PublicAssetSets":{"iOS":{"x":1}}}`, "cannot unmarshal"},
		{"bad version", entry(`"ProductVersion":"18.x","Build":"22C152","PostingDate":"2025-01-06"`), "not a version"},
		{"bad build", entry(`"ProductVersion":"18.2","Build":"22 C","PostingDate":"2025-01-06"`), "not a build"},
		{"bad date", entry(`"ProductVersion":"18.2","Build":"22C152","PostingDate":"06/01/2025"`), "not a date"},
		{"bad expiry", entry(ok + `,"ExpirationDate":"soon"`), "not a date"},
		{"bad device", entry(`"ProductVersion":"18.2","Build":"22C152","PostingDate":"2025-01-06","SupportedDevices":["a b"]`), "not a device id"},
		{"bad platform", `{"PublicAssetSets":{"i OS":[{` + ok + `}]}}`, "not a platform"},
		{"bad extra", entry(ok + `,"ProductVersionExtra":"((a))"`), "supplemental"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var entries []swupdate.Entry
			c, err := swupdate.Parse([]byte(tc.body))
			if err == nil {
				entries, err = c.Entries()
			}
			if tc.wantErr == "" {
				if err != nil || len(entries) != 1 || len(entries[0].SupportedDevices) != 1 {
					t.Fatalf("err %v, entries %+v", err, entries)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestEntriesMergesRepeats(t *testing.T) {
	a := swupdate.Asset{ProductVersion: "18.2.1", Build: "22C161050a", ProductVersionExtra: "(a)", PostingDate: "2025-01-06",
		SupportedDevices: []string{"iPhone14,2"}}
	b := a
	b.SupportedDevices = []string{"iPhone15,2"}
	c := swupdate.Catalog{PublicAssetSets: swupdate.AssetSets{},
		PublicBackgroundSecurityImprovements: swupdate.AssetSets{"iOS": {a}},
		PublicRapidSecurityResponses:         swupdate.AssetSets{"iOS": {b}}}
	entries, err := c.Entries()
	if err != nil || len(entries) != 1 || strings.Join(entries[0].SupportedDevices, " ") != "iPhone14,2 iPhone15,2" {
		t.Fatalf("err %v, entries %+v", err, entries)
	}
}

func TestBaseURLAndTLS(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://gdmf.apple.com": true, "http://127.0.0.1:9000": true, "http://localhost:1": true,
		"http://example.com": false, "ftp://x": false, "https://u:p@x": false, "notaurl": false,
	} {
		if err := swupdate.CheckBaseURL(raw); (err == nil) != ok {
			t.Errorf("CheckBaseURL(%q) = %v", raw, err)
		}
	}
	if _, err := swupdate.HTTPClientFor(swupdate.DefaultBaseURL, nil); err == nil {
		t.Error("Apple's host without Apple's root accepted")
	}
	pool := x509.NewCertPool()
	hc, err := swupdate.HTTPClientFor(swupdate.DefaultBaseURL, pool)
	if err != nil {
		t.Fatal(err)
	}
	if tr := hc.Transport.(*http.Transport); tr.TLSClientConfig == nil || tr.TLSClientConfig.RootCAs != pool {
		t.Error("Apple's host is not verified against Apple's root")
	}
	other, err := swupdate.HTTPClientFor("https://mirror.example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tr := other.Transport.(*http.Transport); tr.TLSClientConfig != nil && tr.TLSClientConfig.RootCAs != nil {
		t.Error("other hosts should use the system roots")
	}
}
