package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// MaxTokenNameBytes bounds a token's name, which every audit event of the
// token repeats.
const MaxTokenNameBytes = 200

// CheckTokenName refuses names that would make the audit trail unreadable.
func CheckTokenName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("a token needs a name: who or what it is for")
	case len(name) > MaxTokenNameBytes:
		return fmt.Errorf("the token name is longer than %d bytes", MaxTokenNameBytes)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return errors.New("the token name holds control characters")
	}
	return nil
}

// CheckGrant refuses a token the principal could use to outgrow itself: one
// carrying a permission the principal lacks (mdm.* only from mdm.*), or one
// outliving the principal's own token.
func (p *Principal) CheckGrant(perms []string, expiresAt time.Time) error {
	if p == nil {
		return errors.New("only a caller with a token may create tokens")
	}
	if err := ValidatePermissions(perms); err != nil {
		return err
	}
	for _, perm := range perms {
		if !p.Has(perm) {
			return fmt.Errorf("a token may not grant %s: your own token lacks it", perm)
		}
	}
	if !p.ExpiresAt.IsZero() && expiresAt.After(p.ExpiresAt) {
		return fmt.Errorf("a token may not outlive yours: it would expire at %s, yours at %s",
			expiresAt.UTC().Format(time.RFC3339), p.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}
