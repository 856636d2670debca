package embeddedpg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// debianPostgresRoot is where Debian and Ubuntu put versioned server binaries
// that are not on PATH.
const debianPostgresRoot = "/usr/lib/postgresql"

// Binaries locates one PostgreSQL installation's server programs.
type Binaries struct {
	Dir    string // directory holding initdb, pg_ctl and postgres
	InitDB string
	PGCtl  string
}

// BinariesNotFoundError reports that no PostgreSQL server programs were found.
type BinariesNotFoundError struct {
	Searched []string // where we looked, for the message
}

func (e *BinariesNotFoundError) Error() string {
	return fmt.Sprintf("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in %s; "+
		"install them with `apt-get install postgresql` (or run scripts/install-postgres.sh), "+
		"or set ORCHARD_DATABASE_URL to use an existing server",
		strings.Join(e.Searched, ", "))
}

// FindBinaries returns initdb and pg_ctl from PATH, or else from the highest
// version under /usr/lib/postgresql/*/bin.
func FindBinaries() (Binaries, error) {
	return findBinaries(exec.LookPath, debianPostgresRoot)
}

func findBinaries(lookPath func(string) (string, error), versionedRoot string) (Binaries, error) {
	if initdb, err := lookPath("initdb"); err == nil {
		// A PATH entry may be a symlink (/usr/local/bin/initdb ->
		// /usr/lib/postgresql/15/bin/initdb); the real directory is the one
		// that also holds postgres and the other server programs.
		if real, err := filepath.EvalSymlinks(initdb); err == nil {
			initdb = real
		}
		if b, ok := binariesIn(filepath.Dir(initdb)); ok {
			return b, nil
		}
	}
	for _, dir := range versionedBinDirs(versionedRoot) {
		if b, ok := binariesIn(dir); ok {
			return b, nil
		}
	}
	return Binaries{}, &BinariesNotFoundError{Searched: []string{"PATH", filepath.Join(versionedRoot, "*", "bin")}}
}

// binariesIn reports whether dir holds both initdb and pg_ctl as executables.
func binariesIn(dir string) (Binaries, bool) {
	b := Binaries{Dir: dir, InitDB: filepath.Join(dir, "initdb"), PGCtl: filepath.Join(dir, "pg_ctl")}
	return b, isExecutable(b.InitDB) && isExecutable(b.PGCtl)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// versionedBinDirs lists root/<version>/bin, highest version first. Versions
// compare numerically so that 10 sorts above 9.6.
func versionedBinDirs(root string) []string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	type candidate struct {
		version []int
		dir     string
	}
	var cands []candidate
	for _, e := range entries {
		v, ok := parseVersion(e.Name())
		if !ok {
			continue
		}
		cands = append(cands, candidate{v, filepath.Join(root, e.Name(), "bin")})
	}
	sort.Slice(cands, func(i, j int) bool { return versionLess(cands[j].version, cands[i].version) })
	dirs := make([]string, len(cands))
	for i, c := range cands {
		dirs[i] = c.dir
	}
	return dirs
}

func parseVersion(s string) ([]int, bool) {
	parts := strings.Split(s, ".")
	v := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, false
		}
		v[i] = n
	}
	return v, true
}

func versionLess(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

var versionOutput = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.\d+)?`)

// MajorVersion runs pg_ctl --version and returns the major version ("15"),
// the same string initdb writes to PG_VERSION.
func (b Binaries) MajorVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, b.PGCtl, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("embeddedpg: run %s --version: %w", b.PGCtl, err)
	}
	m := versionOutput.FindSubmatch(out)
	if m == nil {
		return "", errors.New("embeddedpg: cannot parse version from " + strings.TrimSpace(string(out)))
	}
	return string(m[1]), nil
}
