package scep_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/orchardmdm/orchard/mdmproto/scep"
)

// memEnroller accepts each challenge in its set once.
type memEnroller struct {
	mu     sync.Mutex
	valid  map[string]bool
	issued []*x509.Certificate
}

func (e *memEnroller) Enroll(_ context.Context, challenge string, issue func() (*x509.Certificate, error)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.valid[challenge] {
		return scep.ErrBadChallenge
	}
	c, err := issue()
	if err != nil {
		return err
	}
	delete(e.valid, challenge)
	e.issued = append(e.issued, c)
	return nil
}

func newCA(t *testing.T) *scep.CA {
	t.Helper()
	bundle, err := scep.GenerateCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := scep.ParseCA(bundle)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestIssueForChallengeOnceThenRefuse(t *testing.T) {
	ca := newCA(t)
	enr := &memEnroller{valid: map[string]bool{"good": true}}
	srv := httptest.NewServer(scep.Handler(ca, enr, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	cert, err := scep.Request(ctx, srv.Client(), srv.URL, "good", "device-1", key)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "device-1" || !cert.PublicKey.(*rsa.PublicKey).Equal(&key.PublicKey) {
		t.Fatalf("issued %s for another key or subject", cert.Subject)
	}
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatalf("not signed by the CA: %v", err)
	}
	for _, challenge := range []string{"good", "wrong", ""} {
		_, err := scep.Request(ctx, srv.Client(), srv.URL, challenge, "device-2", key)
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("challenge %q: err %v, want a refusal", challenge, err)
		}
	}
	if len(enr.issued) != 1 {
		t.Fatalf("issued %d certificates, want 1", len(enr.issued))
	}
}

func TestBundleRoundTripsAndGarbageIsRefused(t *testing.T) {
	if _, err := scep.ParseCA([]byte("not pem")); err == nil {
		t.Fatal("ParseCA accepted garbage")
	}
	ca := newCA(t)
	srv := httptest.NewServer(scep.Handler(ca, &memEnroller{}, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	res, err := srv.Client().Post(srv.URL+"?operation=PKIOperation", "application/x-pki-message", strings.NewReader("junk"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("junk PKIOperation: HTTP %d, want 400", res.StatusCode)
	}
}

type failingEnroller struct{}

func (failingEnroller) Enroll(context.Context, string, func() (*x509.Certificate, error)) error {
	return errors.New("database unavailable")
}

func TestEnrollerFailureIsAServerError(t *testing.T) {
	srv := httptest.NewServer(scep.Handler(newCA(t), failingEnroller{}, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, err := scep.Request(context.Background(), srv.Client(), srv.URL, "any", "device", key)
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("err %v, want HTTP 500", err)
	}
}

// capture keeps the bodies of PKIOperation replies.
type capture struct {
	next    http.RoundTripper
	replies [][]byte
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := c.next.RoundTrip(r)
	if err != nil || r.URL.Query().Get("operation") != "PKIOperation" {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	c.replies = append(c.replies, body)
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, nil
}

// The certificate in a CertRep is encrypted with AES-128-CBC, as the caps
// announce, never with the library's default single DES.
func TestRepliesAreEncryptedWithAES(t *testing.T) {
	ca := newCA(t)
	enr := &memEnroller{valid: map[string]bool{"good": true}}
	srv := httptest.NewServer(scep.Handler(ca, enr, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tap := &capture{next: srv.Client().Transport}
	client := &http.Client{Transport: tap}
	if _, err := scep.Request(context.Background(), client, srv.URL, "good", "device-1", key); err != nil {
		t.Fatal(err)
	}
	aes128CBC := []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02} // 2.16.840.1.101.3.4.1.2
	desCBC := []byte{0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x07}                            // 1.3.14.3.2.7
	if len(tap.replies) != 1 {
		t.Fatalf("%d PKIOperation replies seen", len(tap.replies))
	}
	if reply := tap.replies[0]; !bytes.Contains(reply, aes128CBC) || bytes.Contains(reply, desCBC) {
		t.Fatal("the CertRep is not encrypted with AES-128-CBC")
	}
}

func TestWeakKeysAndTheCASubjectAreRefused(t *testing.T) {
	ca := newCA(t)
	enr := &memEnroller{valid: map[string]bool{"good": true}}
	srv := httptest.NewServer(scep.Handler(ca, enr, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	ctx := context.Background()
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scep.Request(ctx, srv.Client(), srv.URL, "good", "device-1", weak); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("1024-bit key: %v, want a refusal", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scep.Request(ctx, srv.Client(), srv.URL, "good", ca.Cert.Subject.CommonName, key); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("the CA's subject: %v, want a refusal", err)
	}
	// Refusals leave the challenge for a proper request.
	if _, err := scep.Request(ctx, srv.Client(), srv.URL, "good", "device-1", key); err != nil {
		t.Fatalf("proper request after the refusals: %v", err)
	}
	if len(enr.issued) != 1 {
		t.Fatalf("issued %d certificates, want 1", len(enr.issued))
	}
	res, err := srv.Client().Get(srv.URL + "?operation=GetCACaps")
	if err != nil {
		t.Fatal(err)
	}
	caps, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, weakAlg := range []string{"SHA-1", "DES3"} {
		if strings.Contains(string(caps), weakAlg) {
			t.Errorf("caps announce %s: %q", weakAlg, caps)
		}
	}
}
