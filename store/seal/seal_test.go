package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newSealer(t *testing.T, ids ...string) *Sealer {
	t.Helper()
	keys := map[string][]byte{}
	for _, id := range ids {
		key, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = key
	}
	s, err := New(keys, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := newSealer(t, "k1")
	at := Place{Table: "enrolled_devices", Column: "filevault_prk", RowID: "27"}
	sealed, err := s.Seal([]byte("0000-1111-2222"), at)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "0000-1111") || !strings.HasPrefix(sealed, "v1:k1:") {
		t.Fatalf("sealed value looks wrong: %q", sealed)
	}
	plain, err := s.Open(sealed, at)
	if err != nil || string(plain) != "0000-1111-2222" {
		t.Fatalf("Open = %q, %v", plain, err)
	}
}

func TestSealedValueDoesNotOpenElsewhere(t *testing.T) {
	s := newSealer(t, "k1")
	at := Place{Table: "enrolled_devices", Column: "filevault_prk", RowID: "27"}
	sealed, err := s.Seal([]byte("secret"), at)
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []Place{
		{Table: "enrolled_devices", Column: "filevault_prk", RowID: "28"},
		{Table: "enrolled_devices", Column: "recovery_password", RowID: "27"},
		{Table: "dep_tokens", Column: "filevault_prk", RowID: "27"},
	} {
		if _, err := s.Open(sealed, other); !errors.Is(err, ErrOpen) {
			t.Errorf("Open at %+v = %v, want ErrOpen", other, err)
		}
	}
}

func TestTamperedAndMalformedValuesFail(t *testing.T) {
	s := newSealer(t, "k1")
	at := Place{Table: "t", Column: "c", RowID: "1"}
	sealed, _ := s.Seal([]byte("secret"), at)
	flipped := []byte(sealed)
	flipped[len(flipped)-2] ^= 1
	for _, bad := range []string{string(flipped), "", "v1:k1", "v2:k1:AAAA", "v1:k9:" + sealed[6:], "v1:k1:!!!"} {
		if _, err := s.Open(bad, at); !errors.Is(err, ErrOpen) {
			t.Errorf("Open(%q) = %v, want ErrOpen", bad, err)
		}
	}
}

func TestRotationOpensOldValues(t *testing.T) {
	oldKey, _ := NewKey()
	newKey, _ := NewKey()
	old, err := New(map[string][]byte{"k1": oldKey}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	at := Place{Table: "t", Column: "c", RowID: "1"}
	sealed, _ := old.Seal([]byte("before rotation"), at)

	rotated, err := New(map[string][]byte{"k1": oldKey, "k2": newKey}, "k2")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := rotated.Open(sealed, at)
	if err != nil || string(plain) != "before rotation" {
		t.Fatalf("old value after rotation: %q, %v", plain, err)
	}
	again, _ := rotated.Seal([]byte("after"), at)
	if !strings.HasPrefix(again, "v1:k2:") {
		t.Fatalf("new values must use the current key: %q", again)
	}
}

func TestKeyFileCreatedPrivateAndReloaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	first, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", info.Mode().Perm())
	}
	at := Place{Table: "t", Column: "c", RowID: "1"}
	sealed, _ := first.Seal([]byte("x"), at)
	second, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := second.Open(sealed, at); err != nil || !bytes.Equal(plain, []byte("x")) {
		t.Fatalf("reloaded key cannot open: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeyFile(path); err == nil {
		t.Fatal("a world-readable key file must be refused")
	}
}

func TestParseKeysRejectsBadInput(t *testing.T) {
	for _, bad := range []string{"", "k1:not-base64!", "k1:AAAA", "a:b:c"} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
}

func TestResealMovesAValueToTheCurrentKey(t *testing.T) {
	oldKey, _ := NewKey()
	newKey, _ := NewKey()
	old, err := New(map[string][]byte{"old": oldKey}, "old")
	if err != nil {
		t.Fatal(err)
	}
	both, err := New(map[string][]byte{"old": oldKey, "new": newKey}, "new")
	if err != nil {
		t.Fatal(err)
	}
	at := Place{Table: "t", Column: "c", RowID: "1"}
	sealed, err := old.Seal([]byte("secret"), at)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := KeyIDOf(sealed); !ok || id != "old" {
		t.Fatalf("KeyIDOf = %q %v", id, ok)
	}
	resealed, err := both.Reseal(sealed, at)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyIDOf(resealed); id != "new" {
		t.Fatalf("resealed with %q", id)
	}
	onlyNew, err := New(map[string][]byte{"new": newKey}, "new")
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := onlyNew.Open(resealed, at); err != nil || string(plain) != "secret" {
		t.Fatalf("open after reseal without the old key: %q %v", plain, err)
	}
	if _, err := both.Reseal(sealed, Place{Table: "t", Column: "c", RowID: "2"}); err == nil {
		t.Fatal("resealed a value for another place")
	}
	if _, ok := KeyIDOf("garbage"); ok {
		t.Fatal("KeyIDOf accepted garbage")
	}
}
