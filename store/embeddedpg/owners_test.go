package embeddedpg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// holdEnv makes the test binary a process that uses the cluster in a data
// directory until its standard input closes, the way a CLI command or a
// server does.
const holdEnv = "EMBEDDEDPG_TEST_HOLD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdEnv); dir != "" {
		os.Exit(holdCluster(dir))
	}
	os.Exit(m.Run())
}

func holdCluster(dir string) int {
	ctx := context.Background()
	c, err := Start(ctx, Options{DataDir: dir, Fast: true, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("started=%v\n", c.Started())
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := c.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// clusterUser is another process using the cluster.
type clusterUser struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	started bool
}

func startUser(t *testing.T, dir string) *clusterUser {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), holdEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("user process did not start the cluster: %v", err)
	}
	return &clusterUser{cmd: cmd, stdin: stdin, started: strings.TrimSpace(line) == "started=true"}
}

// leave ends the process's use of the cluster and waits for it to exit.
func (u *clusterUser) leave(t *testing.T) {
	t.Helper()
	u.stdin.Close()
	if err := u.cmd.Wait(); err != nil {
		t.Fatalf("user process: %v", err)
	}
}

func (u *clusterUser) kill9(t *testing.T) {
	t.Helper()
	_ = u.cmd.Process.Kill()
	_ = u.cmd.Wait()
}

func isRunning(t *testing.T, dir string) bool {
	t.Helper()
	c, err := newCluster(Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	running, err := c.running(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return running
}

// The `make run & orchard token create` race: the process that started the
// cluster exits while another one uses it; the cluster must stay up for that
// one, and stop when the last user leaves.
func TestLastUserOutStopsTheCluster(t *testing.T) {
	dir := reachableTempDir(t)
	command := startUser(t, dir)
	server := startUser(t, dir)
	if !command.started || server.started {
		t.Fatalf("started: first %v, second %v; want only the first", command.started, server.started)
	}
	command.leave(t)
	if !isRunning(t, dir) {
		t.Fatal("the process that started the cluster stopped it while another process used it")
	}
	server.leave(t)
	if isRunning(t, dir) {
		t.Fatal("the last user left and the cluster kept running")
	}
}

// A user killed with SIGKILL holds nothing: it neither keeps the cluster up
// nor blocks the last live user from stopping it.
func TestKilledUsersDoNotKeepTheClusterUp(t *testing.T) {
	ctx := context.Background()
	dir := reachableTempDir(t)
	command := startUser(t, dir)
	server := startUser(t, dir)
	server.kill9(t)
	command.leave(t)
	if isRunning(t, dir) {
		t.Fatal("a killed user kept the cluster running")
	}

	// The only user dies: the cluster runs on until the next user leaves.
	startUser(t, dir).kill9(t)
	if !isRunning(t, dir) {
		t.Fatal("cluster stopped with its killed user (nothing could have stopped it)")
	}
	next, err := Start(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if next.Started() {
		t.Fatal("Start did not reuse the orphaned cluster")
	}
	if err := next.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if isRunning(t, dir) {
		t.Fatal("the orphaned cluster outlived its next user")
	}
}

// A detached start (orchard db start) is for others to share: no user stops it.
func TestDetachedClusterOutlivesItsUsers(t *testing.T) {
	ctx := context.Background()
	dir := reachableTempDir(t)
	if _, err := Start(ctx, Options{DataDir: dir, Fast: true, Detach: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Shutdown(context.Background(), Options{DataDir: dir}) })
	startUser(t, dir).leave(t)
	if !isRunning(t, dir) {
		t.Fatal("a user stopped a detached cluster")
	}
	url, err := RunningURL(ctx, Options{DataDir: dir})
	if err != nil || !strings.Contains(url, "/"+DefaultDatabase) {
		t.Fatalf("RunningURL = %q, %v", url, err)
	}
	if err := Shutdown(ctx, Options{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	var notRunning *NotRunningError
	if _, err := RunningURL(ctx, Options{DataDir: dir}); !errors.As(err, &notRunning) {
		t.Fatalf("RunningURL of a stopped cluster: %v", err)
	}
}

func TestMustExistRefusesToCreateACluster(t *testing.T) {
	dir := reachableTempDir(t) + "/typo"
	_, err := Start(context.Background(), Options{DataDir: dir, MustExist: true})
	var notInit *NotInitializedError
	if !errors.As(err, &notInit) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("got %v, want a NotInitializedError naming %s", err, dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data directory created: %v", err)
	}
}
