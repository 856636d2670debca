package dep

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/mail"
	"strings"
	"time"

	"github.com/smallstep/pkcs7"
)

// Token is the decrypted content of a server token (stoken.json).
type Token struct {
	ConsumerKey       string    `json:"consumer_key"`
	ConsumerSecret    string    `json:"consumer_secret"`
	AccessToken       string    `json:"access_token"`
	AccessSecret      string    `json:"access_secret"`
	AccessTokenExpiry time.Time `json:"access_token_expiry"`
}

// Credentials are the token's OAuth1 keys.
func (t *Token) Credentials() Credentials {
	return Credentials{ConsumerKey: t.ConsumerKey, ConsumerSecret: t.ConsumerSecret,
		AccessToken: t.AccessToken, AccessSecret: t.AccessSecret}
}

// ErrTokenForAnotherKey is returned for a token encrypted to another certificate.
var ErrTokenForAnotherKey = errors.New("the token was encrypted for another certificate: " +
	"upload this DEP token's certificate to Apple Business Manager and download a new token")

// NewKeyPair makes the RSA key and self-signed certificate (DER) an
// administrator uploads to Apple Business Manager, which encrypts the server
// token to it.
func NewKeyPair(commonName string) (*rsa.PrivateKey, []byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("dep key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("dep key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("dep certificate: %w", err)
	}
	return key, der, nil
}

// ParseTokenFile reads what an administrator uploads: the smime.p7m Apple
// Business Manager gives (MIME-wrapped, PEM, base64 or DER), decrypted with
// the key its certificate belongs to, or a plain stoken.json.
func ParseTokenFile(data []byte, cert *x509.Certificate, key *rsa.PrivateKey) (*Token, error) {
	text := bytes.TrimSpace(data)
	if len(text) == 0 {
		return nil, errors.New("the token file is empty")
	}
	if text[0] == '{' || bytes.Contains(text, []byte("-----BEGIN MESSAGE-----")) {
		return ParseTokenJSON(text)
	}
	der, err := envelopeDER(data)
	if err != nil {
		return nil, err
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("the token file is neither an smime.p7m nor an stoken.json: %w", err)
	}
	plain, err := p7.Decrypt(cert, key)
	if err != nil {
		if strings.Contains(err.Error(), "no enveloped recipient") || errors.Is(err, rsa.ErrDecryption) {
			return nil, ErrTokenForAnotherKey
		}
		return nil, fmt.Errorf("decrypt the token: %w", err)
	}
	return ParseTokenJSON(plain)
}

// envelopeDER finds the CMS bytes in a p7m, whatever its wrapping. DER is
// binary: it is taken as is, since a trailing byte that happens to be
// whitespace belongs to it.
func envelopeDER(data []byte) ([]byte, error) {
	if bytes.HasPrefix(data, []byte{0x30}) {
		return data, nil
	}
	data = bytes.TrimSpace(data)
	if block, _ := pem.Decode(data); block != nil {
		return block.Bytes, nil
	}
	if msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(append(data, '\n')))); err == nil &&
		msg.Header.Get("Content-Type") != "" {
		body, err := io.ReadAll(msg.Body)
		if err != nil {
			return nil, fmt.Errorf("read the token's MIME body: %w", err)
		}
		data = body
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(data)), ""))
	if err != nil {
		return nil, errors.New("the token file is neither an smime.p7m nor an stoken.json")
	}
	return der, nil
}

// ParseTokenJSON reads a decrypted token: the JSON alone, or inside
// -----BEGIN MESSAGE----- / -----END MESSAGE----- with MIME headers around it.
func ParseTokenJSON(data []byte) (*Token, error) {
	if _, rest, ok := bytes.Cut(data, []byte("-----BEGIN MESSAGE-----")); ok {
		data, _, _ = bytes.Cut(rest, []byte("-----END MESSAGE-----"))
	}
	start, end := bytes.IndexByte(data, '{'), bytes.LastIndexByte(data, '}')
	if start < 0 || end < start {
		return nil, errors.New("the decrypted token holds no JSON")
	}
	var raw struct {
		Token
		Expiry string `json:"access_token_expiry"`
	}
	if err := json.Unmarshal(data[start:end+1], &raw); err != nil {
		return nil, fmt.Errorf("the token's JSON is malformed: %w", err)
	}
	t := raw.Token
	if t.ConsumerKey == "" || t.ConsumerSecret == "" || t.AccessToken == "" || t.AccessSecret == "" {
		return nil, errors.New("the token lacks consumer_key, consumer_secret, access_token or access_secret")
	}
	expiry, err := parseExpiry(raw.Expiry)
	if err != nil {
		return nil, err
	}
	t.AccessTokenExpiry = expiry
	return &t, nil
}

func parseExpiry(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("the token's access_token_expiry %q is not a date", s)
}

// CheckExpiry refuses a token whose access token has expired.
func (t *Token) CheckExpiry(now time.Time) error {
	if !t.AccessTokenExpiry.After(now) {
		return fmt.Errorf("the token expired on %s: download a new one from Apple Business Manager",
			t.AccessTokenExpiry.Format(time.DateOnly))
	}
	return nil
}
