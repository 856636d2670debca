package depsim_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/dghubble/oauth1"

	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/mdmproto/dep/depsim"
)

// clock is a time source tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

func TestSessionsAndCursorsExpireWithTime(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	sim := depsim.New(depsim.Config{Devices: 3, SessionTTL: time.Minute, CursorTTL: time.Hour, Now: clk.Now})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c := dep.New(dep.Config{BaseURL: srv.URL, Credentials: sim.Credentials()})
	page, err := c.FetchDevices(ctx, 10, "")
	if err != nil || len(page.Devices) != 3 {
		t.Fatalf("fetch: %v %+v", err, page)
	}
	clk.add(2 * time.Minute) // every session has expired
	if _, err := c.SyncDevices(ctx, 10, page.Cursor); err != nil {
		t.Fatalf("sync after the session expired: %v", err)
	}
	if n := sim.Requests("/session"); n != 2 {
		t.Fatalf("%d sessions, want a second one after expiry", n)
	}
	clk.add(2 * time.Hour)
	if _, err := c.SyncDevices(ctx, 10, page.Cursor); !dep.HasCode(err, dep.CodeExpiredCursor) {
		t.Fatalf("a cursor past its TTL: %v", err)
	}
}

func TestRequestsWithoutSignatureOrProtocolVersionAreRefused(t *testing.T) {
	sim := depsim.New(depsim.Config{Devices: 1})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/session")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned /session: %d", res.StatusCode)
	}
	// A valid session but no X-Server-Protocol-Version.
	sessions := &dep.MemorySessions{}
	c := dep.New(dep.Config{BaseURL: srv.URL, Credentials: sim.Credentials(), Sessions: sessions})
	token, err := c.NewSession(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/account", nil)
	req.Header.Set("X-ADM-Auth-Session", token)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("no protocol version: %d", res.StatusCode)
	}
}

// Apple's /session accepts OAuth headers with no realm (clients in production
// send none), and refuses a bad signature with or without one.
func TestSessionAcceptsOAuthWithoutRealm(t *testing.T) {
	sim := depsim.New(depsim.Config{Devices: 1})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	creds := sim.Credentials()
	for _, tc := range []struct {
		name, realm, secret string
		want                int
	}{
		{"no realm", "", creds.ConsumerSecret, http.StatusOK},
		{"realm ADM", "ADM", creds.ConsumerSecret, http.StatusOK},
		{"no realm, wrong secret", "", "wrong", http.StatusUnauthorized},
	} {
		cfg := oauth1.NewConfig(creds.ConsumerKey, tc.secret)
		cfg.Realm = tc.realm
		client := cfg.Client(context.Background(), oauth1.NewToken(creds.AccessToken, creds.AccessSecret))
		res, err := client.Get(srv.URL + "/session")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, res.StatusCode, tc.want)
		}
	}
}
