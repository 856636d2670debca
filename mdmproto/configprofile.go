package mdmproto

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// MaxConfigProfileSize bounds an uploaded configuration profile (signed or
// not): large enough for profiles with certificates and identities, small
// enough that parsing one costs little.
const MaxConfigProfileSize = 1 << 20

// maxPayloads bounds the payloads of one profile.
const maxPayloads = 500

// ConfigProfile is a parsed configuration profile (.mobileconfig).
type ConfigProfile struct {
	Identifier   string
	UUID         string
	DisplayName  string
	Scope        string // System or User
	PayloadTypes []string
	// Content is the unsigned plist: orchard signs what it sends itself.
	Content []byte
	// Hash is the hex SHA-256 of Content.
	Hash string
	// Signer signed the upload (nil when unsigned).
	Signer *x509.Certificate
}

type profilePayload struct {
	PayloadType       string
	PayloadUUID       string
	PayloadIdentifier string
}

type profileTop struct {
	PayloadType        string
	PayloadUUID        string
	PayloadIdentifier  string
	PayloadDisplayName string
	PayloadScope       string
	PayloadContent     []profilePayload
}

// ErrBadProfile wraps every reason a configuration profile is refused.
var ErrBadProfile = errors.New("bad configuration profile")

// ParseConfigProfile checks and parses a .mobileconfig, unwrapping (after
// verifying its signature) a signed one.
func ParseConfigProfile(raw []byte) (*ConfigProfile, error) {
	if len(raw) > MaxConfigProfileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadProfile, MaxConfigProfileSize)
	}
	p := &ConfigProfile{Content: raw}
	if !looksLikePlist(raw) {
		content, signer, err := OpenSigned(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: neither a plist nor a verifiable signed profile: %v", ErrBadProfile, err)
		}
		p.Content, p.Signer = content, signer
	}
	var top profileTop
	if err := UnmarshalPlist(p.Content, &top); err != nil {
		return nil, fmt.Errorf("%w: not a plist: %v", ErrBadProfile, err)
	}
	if err := checkProfile(&top); err != nil {
		return nil, err
	}
	p.Identifier, p.UUID, p.DisplayName = top.PayloadIdentifier, top.PayloadUUID, top.PayloadDisplayName
	p.Scope = top.PayloadScope
	if p.Scope == "" {
		p.Scope = "User" // Apple's default
	}
	for _, c := range top.PayloadContent {
		p.PayloadTypes = append(p.PayloadTypes, c.PayloadType)
	}
	sum := sha256.Sum256(p.Content)
	p.Hash = hex.EncodeToString(sum[:])
	return p, nil
}

func looksLikePlist(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n\ufeff")
	return bytes.HasPrefix(b, []byte("<?xml")) || bytes.HasPrefix(b, []byte("<plist")) ||
		bytes.HasPrefix(b, []byte("<!DOCTYPE")) || bytes.HasPrefix(b, []byte("bplist"))
}

func checkProfile(top *profileTop) error {
	switch {
	case top.PayloadType != "Configuration":
		return fmt.Errorf("%w: PayloadType must be Configuration, not %q", ErrBadProfile, top.PayloadType)
	case strings.TrimSpace(top.PayloadIdentifier) == "" || len(top.PayloadIdentifier) > 500:
		return fmt.Errorf("%w: PayloadIdentifier missing or longer than 500 characters", ErrBadProfile)
	case top.PayloadUUID == "":
		return fmt.Errorf("%w: PayloadUUID missing", ErrBadProfile)
	case top.PayloadScope != "" && top.PayloadScope != "System" && top.PayloadScope != "User":
		return fmt.Errorf("%w: PayloadScope must be System or User", ErrBadProfile)
	case len(top.PayloadContent) > maxPayloads:
		return fmt.Errorf("%w: more than %d payloads", ErrBadProfile, maxPayloads)
	}
	seen := map[string]bool{strings.ToUpper(top.PayloadUUID): true}
	for i, c := range top.PayloadContent {
		if c.PayloadType == "" || c.PayloadUUID == "" {
			return fmt.Errorf("%w: payload %d has no PayloadType or PayloadUUID", ErrBadProfile, i)
		}
		u := strings.ToUpper(c.PayloadUUID)
		if seen[u] {
			return fmt.Errorf("%w: PayloadUUID %s is used twice", ErrBadProfile, c.PayloadUUID)
		}
		seen[u] = true
	}
	return nil
}
