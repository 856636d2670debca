package mdmproto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"testing"
	"time"
)

// issue makes a certificate signed by parent (self-signed, and a CA, when
// parent is nil).
func issue(t *testing.T, cn string, notAfter time.Time, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	return issueCert(t, cn, notAfter, parent, parentKey, parent == nil)
}

func issueCert(t *testing.T, cn string, notAfter time.Time, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// A remembered verification ends with the chain's first expiry; a
// certificate that did not chain is never remembered.
func TestVerifiedCertificatesAreRememberedUntilTheyExpire(t *testing.T) {
	now := time.Now()
	ca, caKey := issue(t, "CA", now.Add(2*time.Hour), nil, nil)
	device, _ := issue(t, "device", now.Add(time.Hour), ca, caKey)
	stranger, _ := issue(t, "stranger", now.Add(time.Hour), nil, nil)
	v, err := NewVerifier([]*x509.Certificate{ca})
	if err != nil {
		t.Fatal(err)
	}
	v.now = func() time.Time { return now }
	for range 2 {
		if err := v.Verify(device); err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(stranger); !errors.Is(err, ErrUntrusted) {
			t.Fatalf("stranger: %v", err)
		}
	}
	if len(v.verified.entries) != 1 {
		t.Fatalf("%d certificates remembered, want the device's only", len(v.verified.entries))
	}
	v.now = func() time.Time { return now.Add(90 * time.Minute) }
	if err := v.Verify(device); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("an expired certificate passed on memory: %v", err)
	}
}

func TestVerifiedCertificatesAreBounded(t *testing.T) {
	ca, caKey := issue(t, "CA", time.Now().Add(time.Hour), nil, nil)
	v, err := NewVerifier([]*x509.Certificate{ca})
	if err != nil {
		t.Fatal(err)
	}
	v.verified.max = 3
	for i := range 10 {
		device, _ := issue(t, "device", time.Now().Add(time.Hour), ca, caKey)
		if err := v.Verify(device); err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		if n := len(v.verified.entries); n > 3 {
			t.Fatalf("%d certificates remembered, bound 3", n)
		}
	}
}

// proxyHeader is the certificate as an nginx-style proxy passes it on.
func proxyHeader(cert *x509.Certificate) string {
	return url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
}

// The identity an mTLS proxy's headers prove is remembered by the headers
// until the certificate's chain expires; headers that do not prove one
// (a stranger, a subject the DN header contradicts) are never remembered.
func TestProxyIdentitiesAreRememberedUntilTheChainExpires(t *testing.T) {
	now := time.Now()
	ca, caKey := issue(t, "CA", now.Add(2*time.Hour), nil, nil)
	device, _ := issue(t, "device", now.Add(3*time.Hour), ca, caKey)
	stranger, _ := issue(t, "stranger", now.Add(time.Hour), nil, nil)
	v, err := NewVerifier([]*x509.Certificate{ca})
	if err != nil {
		t.Fatal(err)
	}
	v.now = func() time.Time { return now }
	header := proxyHeader(device)
	for range 2 {
		id, err := v.ProxyIdentity(header, "CN=device")
		if err != nil || !bytes.Equal(id.CertHash, CertHash(device)) || !id.NotAfter.Equal(device.NotAfter) {
			t.Fatalf("ProxyIdentity = %+v, %v", id, err)
		}
	}
	if _, err := v.ProxyIdentity(header, "CN=someone else"); !errors.Is(err, ErrIdentity) {
		t.Fatalf("a contradicting DN: %v", err)
	}
	if _, err := v.ProxyIdentity(proxyHeader(stranger), ""); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("a stranger: %v", err)
	}
	if _, err := v.ProxyIdentity("%%not a certificate", ""); !errors.Is(err, ErrIdentity) {
		t.Fatalf("garbage: %v", err)
	}
	if n := len(v.proxied.entries); n != 1 {
		t.Fatalf("%d proxy identities remembered, want the device's only", n)
	}
	// Past the CA's expiry (before the device certificate's own) the
	// remembered identity is gone and the chain no longer verifies.
	v.now = func() time.Time { return now.Add(150 * time.Minute) }
	if _, err := v.ProxyIdentity(header, "CN=device"); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("an identity past its chain's expiry passed on memory: %v", err)
	}
}
