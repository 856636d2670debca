package mdmproto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"
)

func issue(t *testing.T, cn string, notAfter time.Time, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, IsCA: parent == nil, BasicConstraintsValid: true,
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
	if len(v.verified.until) != 1 {
		t.Fatalf("%d certificates remembered, want the device's only", len(v.verified.until))
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
		if n := len(v.verified.until); n > 3 {
			t.Fatalf("%d certificates remembered, bound 3", n)
		}
	}
}
