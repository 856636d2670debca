package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
	"github.com/orchardmdm/orchard/store/seal"
)

func keyUse(t *testing.T, s *store.Store) map[string]int64 {
	t.Helper()
	uses, err := s.SealedKeyUse(context.Background())
	mustQueue(t, err)
	byKey := map[string]int64{}
	for _, u := range uses {
		byKey[u.KeyID] += u.Count
	}
	return byKey
}

// TestRewrapRetiresAnOldKey: every secret sealed with "old" is resealed with
// "new" in batches; interrupted after the first column, a second run
// finishes the rest; then a store with the new key only opens everything.
func TestRewrapRetiresAnOldKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oldKey, _ := seal.NewKey()
	newKey, _ := seal.NewKey()
	dsn := pgtest.NewDatabase(t)
	open := func(keys map[string][]byte, current string) *store.Store {
		sealer, err := seal.New(keys, current)
		mustQueue(t, err)
		s, err := store.Open(ctx, dsn, sealer, store.Options{MaxConns: 4})
		mustQueue(t, err)
		t.Cleanup(s.Close)
		return s
	}
	before := open(map[string][]byte{"old": oldKey}, "old")
	secrets := fillWithSecrets(t, before)
	total := keyUse(t, before)["old"]
	if total < 10 || len(keyUse(t, before)) != 1 {
		t.Fatalf("key use before = %v", keyUse(t, before))
	}

	both := open(map[string][]byte{"old": oldKey, "new": newKey}, "new")
	stopped, cancel := context.WithCancel(ctx)
	_, err := both.Rewrap(stopped, 1, func(store.RewrapCount) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted rewrap: %v", err)
	}
	if use := keyUse(t, both); use["new"] == 0 || use["old"] == 0 || use["new"]+use["old"] != total {
		t.Fatalf("after an interrupted run: %v, want both keys in use, %d values", use, total)
	}
	counts, err := both.Rewrap(ctx, 2, nil)
	mustQueue(t, err)
	var rewrapped int64
	for _, c := range counts {
		rewrapped += c.Rewrapped
		if c.Failed != 0 {
			t.Errorf("%s.%s: %d failed", c.Table, c.Column, c.Failed)
		}
	}
	if use := keyUse(t, both); use["old"] != 0 || use["new"] != total || rewrapped == 0 || rewrapped >= total {
		t.Fatalf("after the second run: %v, %d rewrapped of %d", use, rewrapped, total)
	}

	checkSecretsOpenWith(t, open(map[string][]byte{"new": newKey}, "new"), secrets)
}

// checkSecretsOpenWith opens every secret with the store's keys only.
func checkSecretsOpenWith(t *testing.T, after *store.Store, secrets map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	var d struct{ id int64 }
	mustQueue(t, after.Pool().QueryRow(ctx, "SELECT id FROM enrolled_devices WHERE udid = 'BUSY-1'").Scan(&d.id))
	mustQueue(t, pgx.BeginFunc(ctx, after.Pool(), func(tx pgx.Tx) error {
		for column, want := range map[string]string{"unlock_token_sealed": "unlock token", "lock_pin_sealed": "lock PIN",
			"filevault_prk_sealed": "FileVault key", "bootstrap_token_sealed": "bootstrap token"} {
			got, err := after.OpenDeviceSecret(ctx, d.id, column)
			if err != nil || string(got) != string(secrets[want]) {
				t.Errorf("%s with the new key only: %q %v", column, got, err)
			}
		}
		return nil
	}))
	if key, err := after.ServerKey(ctx, "jwt", nil); err != nil || string(key) != string(secrets["server key"]) {
		t.Fatalf("server key with the new key only: %v", err)
	}
	if again, err := after.Rewrap(ctx, 100, nil); err != nil || sum(again) != 0 {
		t.Fatalf("a rewrap with nothing to do: %v %v", again, err)
	}
}

func sum(counts []store.RewrapCount) (n int64) {
	for _, c := range counts {
		n += c.Rewrapped + c.Failed
	}
	return n
}

// TestRewrapCountsWhatItCannotOpen: a value sealed with a key this process
// was not given is counted as failed and left as it is.
func TestRewrapCountsWhatItCannotOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	mustQueue(t, pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO server_keys (purpose, key_sealed) VALUES ('lost', 'v1:gone:AAAA')`)
		return err
	}))
	counts, err := s.Rewrap(ctx, 10, nil)
	mustQueue(t, err)
	for _, c := range counts {
		if c.Table == "server_keys" && (c.Failed != 1 || c.Rewrapped != 0) {
			t.Fatalf("server_keys: %+v", c)
		}
	}
	if use := keyUse(t, s); use["gone"] != 1 {
		t.Fatalf("key use = %v", use)
	}
}
