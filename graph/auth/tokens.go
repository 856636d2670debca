// Package auth issues and verifies orchard's API tokens and checks permissions.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/orchardmdm/orchard/store"
)

// ErrInvalidToken is returned for any token that must not be honoured. The
// errors below wrap it with what a caller may be told: that the header is not
// a bearer token, that the token expired, or that it was revoked. Why any
// other token is refused (signature, issuer, format) is not said.
var (
	ErrInvalidToken     = errors.New("invalid token")
	ErrNotBearer        = fmt.Errorf("%w: the Authorization header must be \"Bearer <token>\"", ErrInvalidToken)
	ErrTokenExpired     = fmt.Errorf("%w: the API token has expired", ErrInvalidToken)
	ErrTokenRevoked     = fmt.Errorf("%w: the API token was revoked", ErrInvalidToken)
	errTokenNotAccepted = fmt.Errorf("%w: the API token is not valid", ErrInvalidToken)
)

const (
	issuer     = "orchard"
	keyPurpose = "jwt-hs256"
	// DefaultTTL is how long a token lives when no TTL is given.
	DefaultTTL = 90 * 24 * time.Hour
)

// Claims are the JWT claims of an orchard API token.
type Claims struct {
	Permissions []string `json:"perms"`
	jwt.RegisteredClaims
}

// TokenStore is what Tokens reads from the database.
type TokenStore interface {
	ServerKey(ctx context.Context, purpose string, newKey func() ([]byte, error)) ([]byte, error)
	APITokenUsable(ctx context.Context, jti string) (bool, error)
}

// TokenRecorder records issued tokens, with their audit event (the service).
type TokenRecorder interface {
	RecordAPIToken(ctx context.Context, actor string, t store.APIToken) error
}

// Tokens issues and verifies API tokens signed with orchard's own key.
type Tokens struct {
	db       TokenStore
	recorder TokenRecorder
	key      []byte
	now      func() time.Time
}

// NewTokens loads (or creates, on first start) the signing key. recorder
// may be nil where tokens are only verified.
func NewTokens(ctx context.Context, db TokenStore, recorder TokenRecorder) (*Tokens, error) {
	key, err := db.ServerKey(ctx, keyPurpose, func() ([]byte, error) {
		k := make([]byte, 32)
		_, err := rand.Read(k)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("auth: signing key: %w", err)
	}
	return &Tokens{db: db, recorder: recorder, key: key, now: time.Now}, nil
}

// Issue creates a token for name with the given permissions and records it.
func (t *Tokens) Issue(ctx context.Context, name string, perms []string, ttl time.Duration, actor string) (string, store.APIToken, error) {
	return t.issue(ctx, name, perms, ttl, actor, nil)
}

// IssueFor is Issue for a token's bearer: the new token is recorded as
// created by the caller's token, so revoking that one revokes this one.
// The caller's grant (CheckGrant) is the caller's to check first.
func (t *Tokens) IssueFor(ctx context.Context, caller *Principal, name string, perms []string, ttl time.Duration) (string, store.APIToken, error) {
	if caller == nil {
		return "", store.APIToken{}, errors.New("auth: no caller to issue a token for")
	}
	return t.issue(ctx, name, perms, ttl, caller.Actor(), &caller.TokenID)
}

func (t *Tokens) issue(ctx context.Context, name string, perms []string, ttl time.Duration, actor string, parent *string) (string, store.APIToken, error) {
	if strings.TrimSpace(name) == "" {
		return "", store.APIToken{}, errors.New("a token needs a name")
	}
	if err := ValidatePermissions(perms); err != nil {
		return "", store.APIToken{}, err
	}
	if ttl <= 0 {
		return "", store.APIToken{}, errors.New("the token lifetime must be positive")
	}
	now := t.now().UTC().Truncate(time.Second)
	rec := store.APIToken{JTI: newJTI(), Name: name, Permissions: perms, CreatedAt: now, ExpiresAt: now.Add(ttl), CreatedBy: parent}
	claims := Claims{Permissions: perms, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: issuer, Subject: name, ID: rec.JTI,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(rec.ExpiresAt),
	}}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.key)
	if err != nil {
		return "", rec, fmt.Errorf("auth: sign token: %w", err)
	}
	if t.recorder == nil {
		return "", rec, errors.New("auth: this process cannot issue tokens")
	}
	if err := t.recorder.RecordAPIToken(ctx, actor, rec); err != nil {
		return "", rec, err
	}
	return signed, rec, nil
}

// Verify checks the signature, expiry and revocation of a token.
func (t *Tokens) Verify(ctx context.Context, raw string) (*Principal, error) {
	var claims Claims
	_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return t.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer), jwt.WithExpirationRequired(), jwt.WithTimeFunc(t.now))
	if errors.Is(err, jwt.ErrTokenExpired) {
		return nil, ErrTokenExpired
	}
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", errTokenNotAccepted, err)
	}
	usable, err := t.db.APITokenUsable(ctx, claims.ID)
	if err != nil {
		return nil, err
	}
	if !usable {
		return nil, ErrTokenRevoked
	}
	return &Principal{Subject: claims.Subject, TokenID: claims.ID, Permissions: claims.Permissions,
		ExpiresAt: claims.ExpiresAt.Time}, nil
}

// StillValid checks again that a principal's token has neither expired nor
// been revoked, for connections that outlive one request (websockets).
func (t *Tokens) StillValid(ctx context.Context, p *Principal) error {
	if !t.now().Before(p.ExpiresAt) {
		return ErrTokenExpired
	}
	usable, err := t.db.APITokenUsable(ctx, p.TokenID)
	if err != nil {
		return err
	}
	if !usable {
		return ErrTokenRevoked
	}
	return nil
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" value.
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// Middleware authenticates the Authorization header when present. A missing
// header leaves the request anonymous (the schema directive then answers
// UNAUTHENTICATED); a bad token is refused here with 401.
func (t *Tokens) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		if header == "" {
			next.ServeHTTP(w, r)
			return
		}
		principal, err := t.FromHeader(r.Context(), header)
		if err != nil {
			refuseToken(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), principal)))
	})
}

// FromHeader verifies an Authorization header value.
func (t *Tokens) FromHeader(ctx context.Context, header string) (*Principal, error) {
	raw, ok := BearerToken(header)
	if !ok {
		return nil, ErrNotBearer
	}
	return t.Verify(ctx, raw)
}

func newJTI() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// refuseToken answers a request whose token was not honoured: 401 with what
// the caller may know of why, or 503 when the database could not be asked
// (a valid token is not the caller's fault).
func refuseToken(w http.ResponseWriter, err error) {
	status, code, msg := http.StatusServiceUnavailable, "UNAVAILABLE", "the database is unavailable; try again shortly"
	if errors.Is(err, ErrInvalidToken) {
		status, code, msg = http.StatusUnauthorized, "UNAUTHENTICATED", tokenRefusal(err)
	}
	body, _ := json.Marshal(map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": map[string]string{"code": code}}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// tokenRefusal is the message of a refused token, without the details of
// why a forged or garbled one failed.
func tokenRefusal(err error) string {
	for _, known := range []error{ErrNotBearer, ErrTokenExpired, ErrTokenRevoked} {
		if errors.Is(err, known) {
			return strings.TrimPrefix(known.Error(), ErrInvalidToken.Error()+": ")
		}
	}
	return "the API token is not valid"
}
