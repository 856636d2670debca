package embeddedpg

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fakeInstall makes root/<version>/bin holding the named programs as executables.
func fakeInstall(t *testing.T, root, version string, programs ...string) string {
	t.Helper()
	dir := filepath.Join(root, version, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range programs {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func notOnPath(string) (string, error) { return "", exec.ErrNotFound }

func TestFindBinariesPicksHighestCompleteVersion(t *testing.T) {
	root := t.TempDir()
	fakeInstall(t, root, "9.6", "initdb", "pg_ctl")
	fakeInstall(t, root, "10", "initdb", "pg_ctl")
	want := fakeInstall(t, root, "15", "initdb", "pg_ctl")
	fakeInstall(t, root, "16", "initdb") // client-only leftovers: no pg_ctl
	if err := os.MkdirAll(filepath.Join(root, "common", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}

	b, err := findBinaries(notOnPath, root)
	if err != nil {
		t.Fatal(err)
	}
	if b.Dir != want || b.InitDB != filepath.Join(want, "initdb") || b.PGCtl != filepath.Join(want, "pg_ctl") {
		t.Fatalf("got %+v, want binaries in %s", b, want)
	}
}

func TestFindBinariesPrefersPath(t *testing.T) {
	root := t.TempDir()
	fakeInstall(t, root, "17", "initdb", "pg_ctl")
	onPath := fakeInstall(t, t.TempDir(), "custom", "initdb", "pg_ctl")
	lookPath := func(name string) (string, error) { return filepath.Join(onPath, name), nil }

	b, err := findBinaries(lookPath, root)
	if err != nil {
		t.Fatal(err)
	}
	if b.Dir != onPath {
		t.Fatalf("got %s, want the PATH directory %s", b.Dir, onPath)
	}
}

func TestFindBinariesMissingSaysHowToInstall(t *testing.T) {
	root := t.TempDir()
	fakeInstall(t, root, "15") // empty bin directory

	_, err := findBinaries(notOnPath, root)
	var nf *BinariesNotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("got %v, want *BinariesNotFoundError", err)
	}
	for _, want := range []string{"apt-get install postgresql", "scripts/install-postgres.sh", root} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
}

func TestFindBinariesResolvesSymlinksOnPath(t *testing.T) {
	install := fakeInstall(t, t.TempDir(), "15", "initdb", "pg_ctl", "postgres")
	linkDir := t.TempDir()
	for _, p := range []string{"initdb", "pg_ctl"} {
		if err := os.Symlink(filepath.Join(install, p), filepath.Join(linkDir, p)); err != nil {
			t.Fatal(err)
		}
	}
	lookPath := func(name string) (string, error) { return filepath.Join(linkDir, name), nil }

	b, err := findBinaries(lookPath, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.EvalSymlinks(install); b.Dir != want {
		t.Fatalf("got %s, want the symlinks' target directory %s", b.Dir, want)
	}
}

// This machine must have PostgreSQL: every database test depends on it.
func TestFindBinariesOnThisMachine(t *testing.T) {
	b, err := FindBinaries()
	if err != nil {
		t.Fatalf("PostgreSQL is required for orchard's tests: %v", err)
	}
	major, err := b.MajorVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d+$`).MatchString(major) {
		t.Fatalf("major version %q is not a number", major)
	}
}
