// Package seal encrypts secrets at rest with AES-256-GCM, bound to the row and column they live in.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a sealing key: AES-256.
const KeySize = 32

// version prefixes every sealed value so the format can change without guessing.
const version = "v1"

// ErrOpen is returned when a sealed value cannot be opened: wrong key, tampered
// bytes, or a value copied from another row or column.
var ErrOpen = errors.New("seal: cannot open sealed value")

// Place names where a sealed value lives. It is the GCM additional data, so a
// value sealed for one row, table or column does not open anywhere else.
type Place struct {
	Table  string
	Column string
	RowID  string
}

func (p Place) additionalData() []byte {
	return []byte(p.Table + "\x00" + p.Column + "\x00" + p.RowID)
}

// Sealer seals with its current key and opens with any key it knows, which is
// how keys are rotated: add the new key as current, keep the old ones to open.
type Sealer struct {
	current string
	aeads   map[string]cipher.AEAD
}

// New returns a Sealer. keys maps a key id to a 32-byte key; current names the
// key used to seal new values.
func New(keys map[string][]byte, current string) (*Sealer, error) {
	if _, ok := keys[current]; !ok {
		return nil, fmt.Errorf("seal: current key id %q has no key", current)
	}
	s := &Sealer{current: current, aeads: make(map[string]cipher.AEAD, len(keys))}
	for id, key := range keys {
		if id == "" || strings.ContainsAny(id, ":") {
			return nil, fmt.Errorf("seal: key id %q must be non-empty and contain no ':'", id)
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("seal: key %q is %d bytes, want %d", id, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: %w", id, err)
		}
		s.aeads[id] = aead
	}
	return s, nil
}

// Seal encrypts plaintext for the given place. The result is text:
// "v1:<key id>:<base64 nonce+ciphertext>".
func (s *Sealer) Seal(plaintext []byte, at Place) (string, error) {
	aead := s.aeads[s.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: nonce: %w", err)
	}
	sealed := aead.Seal(nonce, nonce, plaintext, at.additionalData())
	return version + ":" + s.current + ":" + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// Open decrypts a value made by Seal for the same place.
func (s *Sealer) Open(sealed string, at Place) ([]byte, error) {
	parts := strings.SplitN(sealed, ":", 3)
	if len(parts) != 3 || parts[0] != version {
		return nil, fmt.Errorf("%w: unknown format", ErrOpen)
	}
	aead, ok := s.aeads[parts[1]]
	if !ok {
		return nil, fmt.Errorf("%w: unknown key id %q", ErrOpen, parts[1])
	}
	raw, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < aead.NonceSize() {
		return nil, fmt.Errorf("%w: malformed", ErrOpen)
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], at.additionalData())
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// KeyIDOf is the id of the key a sealed value was sealed with; false when
// the value is not in a format Seal makes.
func KeyIDOf(sealed string) (string, bool) {
	parts := strings.SplitN(sealed, ":", 3)
	if len(parts) != 3 || parts[0] != version || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}

// Reseal opens a sealed value and seals it again with the current key, for
// the same place: how a retired key stops being needed.
func (s *Sealer) Reseal(sealed string, at Place) (string, error) {
	plain, err := s.Open(sealed, at)
	if err != nil {
		return "", err
	}
	return s.Seal(plain, at)
}

// KeyID is the id of the key new values are sealed with.
func (s *Sealer) KeyID() string { return s.current }

// NewKey returns a fresh random sealing key.
func NewKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("seal: new key: %w", err)
	}
	return key, nil
}
