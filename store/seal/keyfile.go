package seal

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// ParseKeys reads keys written as "id:base64key[,id:base64key...]"; the first
// one is current. A bare base64 key is accepted and gets the id "k1".
func ParseKeys(text string) (*Sealer, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("seal: no key given")
	}
	keys := map[string][]byte{}
	current := ""
	for _, item := range strings.Split(text, ",") {
		id, encoded, found := strings.Cut(strings.TrimSpace(item), ":")
		if !found {
			id, encoded = "k1", id
		}
		key, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return nil, fmt.Errorf("seal: key %q is not base64: %w", id, err)
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("seal: key id %q given twice", id)
		}
		keys[id] = key
		if current == "" {
			current = id
		}
	}
	return New(keys, current)
}

// FormatKey writes a key the way ParseKeys reads it.
func FormatKey(id string, key []byte) string {
	return id + ":" + base64.StdEncoding.EncodeToString(key)
}

// LoadOrCreateKeyFile reads the key file at path, creating it (mode 0600) with
// a fresh key on first use. It refuses a key file others can read.
func LoadOrCreateKeyFile(path string) (*Sealer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := NewKey()
		if err != nil {
			return nil, err
		}
		data = []byte(FormatKey("k1", key) + "\n")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("seal: create key file: %w", err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return nil, fmt.Errorf("seal: write key file: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("seal: write key file: %w", err)
		}
		return ParseKeys(string(data))
	}
	if err != nil {
		return nil, fmt.Errorf("seal: read key file: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("seal: key file %s is readable by others (mode %v); chmod 600 it", path, info.Mode().Perm())
	}
	return ParseKeys(string(data))
}
