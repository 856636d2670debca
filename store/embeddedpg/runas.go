package embeddedpg

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// serverUser is the account the PostgreSQL programs run as. PostgreSQL
// refuses to run as root, so a root process hands them to an unprivileged
// account; any other process runs them as itself.
type serverUser struct {
	Name   string
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups, so permission checks match a login of that user
	drop   bool     // true when commands must drop to this user (we are root)
}

// pickServerUser chooses who runs PostgreSQL: the current user when not root,
// else the "postgres" account if it exists, else "nobody".
func pickServerUser() (serverUser, error) {
	if os.Geteuid() != 0 {
		return serverUser{
			Name: strconv.Itoa(os.Geteuid()),
			UID:  uint32(os.Geteuid()),
			GID:  uint32(os.Getegid()),
		}, nil
	}
	var lookupErr error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			lookupErr = err
			continue
		}
		return serverUserFrom(u)
	}
	return serverUser{}, fmt.Errorf("embeddedpg: running as root and neither a postgres nor a nobody account exists to run PostgreSQL: %w", lookupErr)
}

func serverUserFrom(u *user.User) (serverUser, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return serverUser{}, fmt.Errorf("embeddedpg: user %s has non-numeric uid %q", u.Username, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return serverUser{}, fmt.Errorf("embeddedpg: user %s has non-numeric gid %q", u.Username, u.Gid)
	}
	su := serverUser{Name: u.Username, UID: uint32(uid), GID: uint32(gid), drop: true}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				su.Groups = append(su.Groups, uint32(g))
			}
		}
	}
	return su, nil
}

// sysProcAttr returns the process attributes for a PostgreSQL program: its
// own process group, so a Ctrl-C aimed at orchard does not reach the server
// before orchard stops it in order, and the server user's credentials.
func (u serverUser) sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if u.drop {
		attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups}
	}
	return attr
}

// chownTree gives every file under root to the server user, so a cluster
// created by a differently privileged run still starts. It is a no-op when
// no user switch happens.
func (u serverUser) chownTree(root string) error {
	if !u.drop {
		return nil
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(u.UID), int(u.GID))
	})
}

// ownedBy reports whether path belongs to the server user.
func (u serverUser) ownedBy(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == u.UID
}

// TraverseError reports a directory the server user cannot enter, which
// would make PostgreSQL fail later with a less helpful message.
type TraverseError struct {
	Dir  string
	User string
}

func (e *TraverseError) Error() string {
	return fmt.Sprintf("embeddedpg: PostgreSQL runs as user %s, which cannot enter directory %s "+
		"(it needs search permission on every parent of the data directory): "+
		"grant it (for example `chmod o+x %s`) or choose a data directory elsewhere",
		e.User, e.Dir, e.Dir)
}

// checkTraversable verifies from the permission bits that the server user can
// search every directory from / down to dir. ACLs are not consulted; a
// directory that passes here but is blocked by an ACL still fails at start,
// with the server log in the error.
func (u serverUser) checkTraversable(dir string) error {
	if !u.drop {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	// Walk from the top so the error names the highest blocking directory,
	// the one to fix first.
	var chain []string
	for p := abs; ; p = filepath.Dir(p) {
		chain = append(chain, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		fi, err := os.Stat(chain[i])
		if err != nil {
			return fmt.Errorf("embeddedpg: check access to %s: %w", chain[i], err)
		}
		if !u.canSearch(fi) {
			return &TraverseError{Dir: chain[i], User: u.Name}
		}
	}
	return nil
}

func (u serverUser) canSearch(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	mode := fi.Mode().Perm()
	switch {
	case u.UID == 0:
		return true
	case st.Uid == u.UID:
		return mode&0o100 != 0
	case u.inGroup(st.Gid):
		return mode&0o010 != 0
	default:
		return mode&0o001 != 0
	}
}

func (u serverUser) inGroup(gid uint32) bool {
	if gid == u.GID {
		return true
	}
	for _, g := range u.Groups {
		if g == gid {
			return true
		}
	}
	return false
}
