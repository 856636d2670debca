package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/orchardmdm/orchard/store/embeddedpg"
)

// cliCmd prepares a real orchard process with none of the test run's
// ORCHARD_* settings: the embedded cluster of --data-dir, as a user runs it.
func cliCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ORCHARD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "ORCHARD_BE_MAIN=1")
	return cmd
}

// runCLI runs orchard and returns its exit code, standard output and error.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := cliCmd(args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatalf("orchard %v: %v", args, err)
	}
	return 0, stdout.String(), stderr.String()
}

// reachableTempDir is a fresh directory the PostgreSQL user can enter (as
// root, PostgreSQL runs as another user and t.TempDir's parent is 0700).
func reachableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func TestCommandsRefuseADataDirectoryTheyWouldCreate(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "orchard-dta")
	for _, args := range [][]string{
		{"token", "create", "--name", "ci", "--permission", "mdm.*"},
		{"token", "revoke", "--name", "ci"},
		{"token", "list"},
		{"keys", "status"},
		{"db", "url"},
		{"db", "stop"},
	} {
		code, _, stderr := runCLI(t, append(args, "--data-dir", missing)...)
		if code != 1 || !strings.Contains(stderr, missing) {
			t.Errorf("orchard %v: exit %d, stderr %q; want 1 and the path it looked at", args, code, stderr)
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("orchard %v created %s", args, missing)
		}
	}
}

// Arguments are refused before anything starts: with a data directory
// that does not exist, the complaint is about the argument.
func TestTokenArgumentsAreCheckedFirst(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	for args, want := range map[string]string{
		"create --name ci --permission mdm.view_everything": "unknown permission",
		"create --name ci --permission mdm.* --ttl -1h":     "--ttl",
		"create --name ci --permission mdm.* --ttl 99999h":  "--ttl",
		"create --permission mdm.*":                         "--name",
		"revoke":                                            "--jti or --name",
		"list extra":                                        "unexpected argument",
	} {
		code, _, stderr := runCLI(t, append(append([]string{"token"}, strings.Fields(args)...), "--data-dir", missing)...)
		if code == 0 || !strings.Contains(stderr, want) || strings.Contains(stderr, missing) {
			t.Errorf("token %s: exit %d, stderr %q; want it to name %q", args, code, stderr, want)
		}
	}
}

func TestHelpIsAnAnswer(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"token", "--help"}, {"token", "create", "--help"},
		{"token", "revoke", "--help"}, {"token", "list", "--help"}, {"db", "--help"}, {"db", "start", "--help"},
		{"db", "stop", "--help"}, {"db", "url", "--help"}, {"keys", "--help"}, {"keys", "status", "-h"},
		{"keys", "rewrap", "--help"}, {"loadtest", "--help"}, {"mdmcerts", "--help"}, {"depsim", "--help"},
	} {
		if code, _, stderr := runCLI(t, args...); code != 0 || strings.Contains(stderr, "orchard: ") {
			t.Errorf("orchard %v: exit %d, stderr %q", args, code, stderr)
		}
	}
	for _, args := range [][]string{{"token"}, {"db"}, {"db", "restart"}, {"keys"}} {
		code, _, stderr := runCLI(t, args...)
		if code != 2 || !strings.Contains(stderr, "usage: orchard "+args[0]) || strings.Contains(stderr, "orchard: usage") {
			t.Errorf("orchard %v: exit %d, stderr %q; want 2 and the usage alone", args, code, stderr)
		}
	}
	_, _, help := runCLI(t, "db", "stop", "--help")
	for _, idle := range []string{"-database-url", "-secret-key", "-fast"} {
		if strings.Contains(help, idle) {
			t.Errorf("db stop --help lists %s, which does nothing there", idle)
		}
	}
	_, _, revoke := runCLI(t, "token", "revoke", "--help")
	if !strings.Contains(revoke, "revoke every token issued with this name") {
		t.Errorf("token revoke --help does not say what --name does there:\n%s", revoke)
	}
}

// A command that started the cluster leaves it to a server that began using
// it meanwhile; the server, the last user, stops it when it exits.
func TestCommandLeavesTheClusterToTheServer(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(reachableTempDir(t), "data")
	if code, out, stderr := runCLI(t, "migrate", "--data-dir", dir); code != 0 || out != "database is up to date\n" || stderr != "" {
		t.Fatalf("migrate: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// This test process plays the command that started the cluster.
	command, err := embeddedpg.Start(ctx, embeddedpg.Options{DataDir: dir})
	if err != nil || !command.Started() {
		t.Fatalf("start: %v (started %v)", err, err == nil && command.Started())
	}
	server, err := launchServerWith(t, cliCmd("serve", "--data-dir", dir, "--listen", "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := command.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	code, token, stderr := runCLI(t, "token", "create", "--data-dir", dir, "--name", "after", "--permission", "mdm.view_enrolleddevice")
	if code != 0 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "token ") {
		t.Fatalf("token create: exit %d, stderr %q; want the token's id line only", code, stderr)
	}
	if got := graphqlQuery(t, "http://"+server.addr, strings.TrimSpace(token), `{ devices { totalCount } }`); got != `{"data":{"devices":{"totalCount":0}}}` {
		t.Fatalf("the server lost its database: %s", got)
	}
	code, list, _ := runCLI(t, "token", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(list, "after") || !strings.Contains(list, "mdm.view_enrolleddevice") {
		t.Fatalf("token list: exit %d:\n%s", code, list)
	}
	if code, _, _ := runCLI(t, "token", "revoke", "--data-dir", dir, "--name", "after"); code != 0 {
		t.Fatalf("token revoke: exit %d", code)
	}
	_, list, _ = runCLI(t, "token", "list", "--data-dir", dir)
	if row := strings.Split(strings.TrimSpace(list), "\n")[1]; strings.HasSuffix(row, " -") {
		t.Fatalf("token list shows a revoked token unrevoked: %q", row)
	}

	if err := server.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := server.cmd.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, server.logs())
	}
	var notRunning *embeddedpg.NotRunningError
	if _, err := embeddedpg.RunningURL(ctx, embeddedpg.Options{DataDir: dir}); !errors.As(err, &notRunning) {
		t.Fatalf("the last user exited and the cluster is still up: %v", err)
	}
}
