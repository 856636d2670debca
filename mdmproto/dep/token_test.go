package dep_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/orchardmdm/orchard/mdmproto/dep"
)

const tokenJSON = `{"consumer_key":"CK_1","consumer_secret":"CS_1","access_token":"AT_1","access_secret":"AS_1","access_token_expiry":"2030-09-23T20:55:35Z"}`

// appleP7M encrypts a token to cert the way Apple Business Manager does and
// wraps it in S/MIME headers.
func appleP7M(t *testing.T, cert *x509.Certificate, payload string) (der []byte, mime string) {
	t.Helper()
	plain := "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" +
		"-----BEGIN MESSAGE-----\r\n" + payload + "\r\n-----END MESSAGE-----\r\n"
	der, err := pkcs7.Encrypt([]byte(plain), []*x509.Certificate{cert})
	must(t, err)
	b64 := base64.StdEncoding.EncodeToString(der)
	var lines []string
	for len(b64) > 64 {
		lines = append(lines, b64[:64])
		b64 = b64[64:]
	}
	lines = append(lines, b64)
	mime = "Content-Type: application/pkcs7-mime; name=\"smime.p7m\"; smime-type=enveloped-data\r\n" +
		"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\n" +
		"Content-Description: S/MIME Encrypted Message\r\n\r\n" + strings.Join(lines, "\r\n") + "\r\n"
	return der, mime
}

// A DER p7m is binary: one ending in a byte that reads as whitespace (a few
// percent of them) must not lose it.
func TestParseTokenFileKeepsTrailingWhitespaceOfDER(t *testing.T) {
	t.Parallel()
	key, certDER, err := dep.NewKeyPair("orchard test")
	must(t, err)
	cert, err := x509.ParseCertificate(certDER)
	must(t, err)
	for range 5000 {
		der, _ := appleP7M(t, cert, tokenJSON)
		if !strings.ContainsRune(" \t\n\v\f\r", rune(der[len(der)-1])) {
			continue
		}
		if _, err := dep.ParseTokenFile(der, cert, key); err != nil {
			t.Fatalf("a DER token ending in %#x: %v", der[len(der)-1], err)
		}
		return
	}
	t.Fatal("no encryption ended in a whitespace byte in 5000 tries")
}

func TestParseTokenFileDecryptsEveryWrapping(t *testing.T) {
	t.Parallel()
	key, certDER, err := dep.NewKeyPair("orchard test")
	must(t, err)
	cert, err := x509.ParseCertificate(certDER)
	must(t, err)
	der, mime := appleP7M(t, cert, tokenJSON)
	files := map[string][]byte{
		"mime":  []byte(mime),
		"der":   der,
		"pem":   pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: der}),
		"b64":   []byte(base64.StdEncoding.EncodeToString(der)),
		"plain": []byte(tokenJSON + "\n"),
	}
	for name, file := range files {
		tok, err := dep.ParseTokenFile(file, cert, key)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := time.Date(2030, 9, 23, 20, 55, 35, 0, time.UTC)
		if tok.ConsumerKey != "CK_1" || tok.AccessSecret != "AS_1" || !tok.AccessTokenExpiry.Equal(want) {
			t.Fatalf("%s: token %+v", name, tok)
		}
		must(t, tok.CheckExpiry(time.Now()))
	}
}

func TestParseTokenFileRefusesBadTokens(t *testing.T) {
	t.Parallel()
	key, certDER, err := dep.NewKeyPair("orchard test")
	must(t, err)
	cert, _ := x509.ParseCertificate(certDER)
	_, otherDER, err := dep.NewKeyPair("another server")
	must(t, err)
	other, _ := x509.ParseCertificate(otherDER)

	_, forOther := appleP7M(t, other, tokenJSON)
	if _, err := dep.ParseTokenFile([]byte(forOther), cert, key); !errors.Is(err, dep.ErrTokenForAnotherKey) {
		t.Fatalf("token for another key: %v", err)
	}
	_, noJSON := appleP7M(t, cert, "hello")
	for name, file := range map[string]string{
		"garbage":        "this is not a token at all",
		"empty":          "  ",
		"binary garbage": "\x30\x03\x01\x02\x03",
		"no json inside": noJSON,
		"missing secret": `{"consumer_key":"CK","consumer_secret":"CS","access_token":"AT","access_token_expiry":"2030-01-01T00:00:00Z"}`,
		"bad expiry":     `{"consumer_key":"CK","consumer_secret":"CS","access_token":"AT","access_secret":"AS","access_token_expiry":"soon"}`,
	} {
		if tok, err := dep.ParseTokenFile([]byte(file), cert, key); err == nil {
			t.Fatalf("%s: accepted as %+v", name, tok)
		}
	}
	expired := strings.Replace(tokenJSON, "2030", "2020", 1)
	tok, err := dep.ParseTokenFile([]byte(expired), cert, key)
	must(t, err)
	if err := tok.CheckExpiry(time.Now()); err == nil || !strings.Contains(err.Error(), "expired on 2020-09-23") {
		t.Fatalf("expired token: %v", err)
	}
}
