package main

import (
	"context"
	"strings"
	"testing"

	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
	"github.com/orchardmdm/orchard/store/seal"
)

// TestKeysRewrapRetiresTheOldKey runs `orchard keys status` and `orchard
// keys rewrap` as real processes: after the rewrap, status shows only the
// new key and orchard runs with the new key alone.
func TestKeysRewrapRetiresTheOldKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	oldRaw, err := seal.NewKey()
	mustCerts(t, err)
	oldText := seal.FormatKey("old", oldRaw)
	oldKey, err := seal.ParseKeys(oldText)
	mustCerts(t, err)
	s, err := store.Open(ctx, dsn, oldKey, store.Options{MaxConns: 2})
	mustCerts(t, err)
	_, err = s.ServerKey(ctx, "jwt", func() ([]byte, error) { return []byte("server-key"), nil })
	mustCerts(t, err)
	_, err = s.ServerKey(ctx, "other", func() ([]byte, error) { return []byte("other-key"), nil })
	mustCerts(t, err)
	s.Close()
	newKey, err := seal.NewKey()
	mustCerts(t, err)
	newText := seal.FormatKey("new", newKey)

	out := runOrchard(t, dsn, oldText, "keys", "status")
	if !strings.Contains(out, "server_keys") || !lineHas(out, "key_sealed", "old (current)", "2") {
		t.Fatalf("status before:\n%s", out)
	}
	out = runOrchard(t, dsn, newText+","+oldText, "keys", "rewrap", "--batch", "1")
	if !lineHas(out, "server_keys", "key_sealed", "2", "0") {
		t.Fatalf("rewrap:\n%s", out)
	}
	out = runOrchard(t, dsn, newText, "keys", "status")
	if strings.Contains(out, "old") || !lineHas(out, "key_sealed", "new (current)", "2") {
		t.Fatalf("status after, with the new key only:\n%s", out)
	}
}

func runOrchard(t *testing.T, dsn, key string, args ...string) string {
	t.Helper()
	out, err := orchardCmd(t, dsn, key, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("orchard %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// lineHas reports whether one output line holds all words, in order.
func lineHas(out string, words ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := line, true
		for _, w := range words {
			i := strings.Index(rest, w)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(w):]
		}
		if ok {
			return true
		}
	}
	return false
}
