package main

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/orchardmdm/orchard/store/pgtest"
)

var debugAddr = regexp.MustCompile(`serving Go profiles without authentication"? addr=(\S+)`)

// Profiles are served on --debug-listen only, never on the public listener.
func TestDebugListenServesProfilesOnlyThere(t *testing.T) {
	t.Parallel()
	s, err := launchServerWith(t, orchardCmd(t, pgtest.NewDatabase(t), testKey(t), "serve", "--listen", "127.0.0.1:0",
		"--debug-listen", "127.0.0.1:0", "--shutdown-timeout", "5s"))
	if err != nil {
		t.Fatal(err)
	}
	m := debugAddr.FindStringSubmatch(s.logs())
	if m == nil {
		t.Fatalf("no debug listener logged:\n%s", s.logs())
	}
	for _, c := range []struct {
		url  string
		want int
	}{
		{"http://" + m[1] + "/debug/pprof/cmdline", http.StatusOK},
		{"http://" + s.addr + "/debug/pprof/cmdline", http.StatusNotFound},
		{"http://" + s.addr + "/debug/pprof/", http.StatusNotFound},
	} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s: %d, want %d", c.url, resp.StatusCode, c.want)
		}
	}
}
