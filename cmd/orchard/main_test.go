package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/store/pgtest"
	"github.com/orchardmdm/orchard/store/seal"
)

// The test binary doubles as the orchard binary, so tests run real processes.
func TestMain(m *testing.M) {
	if os.Getenv("ORCHARD_BE_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// orchardCmd prepares a real orchard process on the given database.
func orchardCmd(t *testing.T, dsn, key string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ORCHARD_BE_MAIN=1", "ORCHARD_DATABASE_URL="+dsn, "ORCHARD_SECRET_KEY="+key,
		"ORCHARD_DATA_DIR="+t.TempDir(),
		// Tests never reach Apple: no periodic software update catalog syncs.
		"ORCHARD_SOFTWARE_UPDATE_SYNC_INTERVAL=0")
	return cmd
}

var servingAddr = regexp.MustCompile(`orchard is serving"? addr=(\S+)`)

// startServer runs `orchard serve` and returns its base URL once it serves.
func startServer(t *testing.T, dsn, key string) (string, *exec.Cmd) {
	t.Helper()
	url, cmd, err := launchServer(t, dsn, key)
	if err != nil {
		t.Fatal(err)
	}
	return url, cmd
}

// launchServer is startServer for goroutines other than the test's, which
// must not call t.Fatal.
func launchServer(t *testing.T, dsn, key string) (string, *exec.Cmd, error) {
	s, err := launchServerWith(t, orchardCmd(t, dsn, key, "serve", "--listen", "127.0.0.1:0", "--shutdown-timeout", "5s"))
	if err != nil {
		return "", nil, err
	}
	return "http://" + s.addr, s.cmd, nil
}

// runningServer is an `orchard serve` process and what it has logged.
type runningServer struct {
	addr string
	cmd  *exec.Cmd
	logs func() string
}

// launchServerWith starts cmd, an `orchard serve`, and waits until it serves.
func launchServerWith(t *testing.T, cmd *exec.Cmd) (*runningServer, error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	var mu sync.Mutex
	var logs bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			logs.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := servingAddr.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		close(found)
	}()
	logText := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	select {
	case addr, ok := <-found:
		if !ok {
			return nil, fmt.Errorf("orchard serve exited before serving:\n%s", logText())
		}
		return &runningServer{addr: addr, cmd: cmd, logs: logText}, nil
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("orchard serve did not start:\n%s", logText())
	}
}

func testKey(t *testing.T) string {
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return seal.FormatKey("k1", key)
}

// TestTwoServersShareOneDatabase starts two processes on an empty database at
// once: both migrate (one waits for the other), both serve, both stop cleanly.
func TestTwoServersShareOneDatabase(t *testing.T) {
	dsn := pgtest.NewEmptyDatabase(t)
	key := testKey(t)

	type started struct {
		url string
		cmd *exec.Cmd
		err error
	}
	results := make(chan started, 2)
	for range 2 {
		go func() {
			url, cmd, err := launchServer(t, dsn, key)
			results <- started{url, cmd, err}
		}()
	}
	a, b := <-results, <-results
	for _, s := range []started{a, b} {
		if s.err != nil {
			t.Fatal(s.err)
		}
	}

	out, err := orchardCmd(t, dsn, key, "token", "create", "--name", "ci", "--permission", "mdm.view_enrolleddevice").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(string(out))

	for _, s := range []started{a, b} {
		res, err := http.Get(s.url + "/healthz")
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%s/healthz: %v %v", s.url, res, err)
		}
		res.Body.Close()
		got := graphqlQuery(t, s.url, token, `{ devices { totalCount } }`)
		if got != `{"data":{"devices":{"totalCount":0}}}` {
			t.Fatalf("%s: devices query answered %s", s.url, got)
		}
	}
	for _, s := range []started{a, b} {
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := s.cmd.Wait(); err != nil {
			t.Fatalf("orchard serve did not exit cleanly on SIGTERM: %v", err)
		}
	}
}

func TestServeExposesHealthMetricsAndGraphiQL(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	url, _ := startServer(t, dsn, testKey(t))
	// One GraphQL request so its metrics exist.
	_ = graphqlQuery(t, url, "", `{ devices { totalCount } }`)
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/metrics": "orchard_graphql_operations_total",
		"/":        "GraphiQL",
	} {
		res, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, res.StatusCode, want)
		}
	}
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, metric := range []string{"orchard_http_requests_total", "orchard_db_pool_connections", "orchard_graphql_operation_duration_seconds"} {
		if !strings.Contains(string(body), metric) {
			t.Errorf("/metrics lacks %s", metric)
		}
	}
}

func graphqlQuery(t *testing.T, base, token, query string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return string(out)
}

func TestServeHelpDocumentsEveryFlagWithItsVariable(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--help"}, nil, io.Discard, &stderr)
	if err == nil {
		t.Fatal("--help should end the command")
	}
	help := stderr.String()
	for _, flag := range []string{"listen", "data-dir", "database-url", "secret-key", "role", "no-migrate", "public-url", "shutdown-timeout"} {
		if !strings.Contains(help, "-"+flag) {
			t.Errorf("serve --help lacks --%s", flag)
		}
	}
	if n := strings.Count(help, "(env ORCHARD_"); n < 12 {
		t.Errorf("only %d flags name their ORCHARD_* variable:\n%s", n, help)
	}
}

func TestBadConfigurationIsRefusedClearly(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--role", "janitor"},
		{"serve", "--log-format", "xml"},
		{"serve", "--apns-url", "http://api.push.apple.com"},
		{"serve", "--push-window", "0s"},
		{"frobnicate"},
		{"token", "create", "--name", "x", "--permission", "mdm.view_everything", "--secret-key", "k1:short"},
	} {
		err := run(context.Background(), args, nil, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("orchard %v succeeded", args)
		}
	}
}
