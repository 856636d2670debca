package mdmcerts_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/mdmcerts"
	"github.com/orchardmdm/orchard/mdmproto/pushcert"

	"github.com/orchardmdm/orchard/mdmproto"
)

// fakeApple stands in for Apple's root and WWDR intermediate, and issues the
// vendor certificate the way Apple's developer portal would.
type fakeApple struct {
	root, wwdr *x509.Certificate
	wwdrKey    *rsa.PrivateKey
}

func newFakeApple(t *testing.T) *fakeApple {
	t.Helper()
	rootKey := mustKey(t)
	root := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Test Apple Root CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, rootKey, &rootKey.PublicKey)
	wwdrKey := mustKey(t)
	wwdr := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Test WWDR"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, root, rootKey, &wwdrKey.PublicKey)
	return &fakeApple{root: root, wwdr: wwdr, wwdrKey: wwdrKey}
}

// chain is what Apple's two certificates look like in apple/*.pem: root first
// on purpose, to check the order is fixed.
func (a *fakeApple) chain() []*x509.Certificate {
	return mdmcerts.OrderChain([]*x509.Certificate{a.root, a.wwdr})
}

func (a *fakeApple) issueVendor(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, mdmcerts.VendorCSRFile))
	mustOK(t, err)
	block, _ := pem.Decode(data)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	mustOK(t, err)
	mustOK(t, csr.CheckSignature())
	cert := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "MDM Vendor: Test"}}, a.wwdr, a.wwdrKey, csr.PublicKey)
	// Apple hands out DER (.cer).
	mustOK(t, os.WriteFile(filepath.Join(dir, mdmcerts.VendorCertFile), cert.Raw, 0o644))
}

func issue(t *testing.T, tmpl, parent *x509.Certificate, key crypto.Signer, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	mustOK(t, err)
	c, err := x509.ParseCertificate(der)
	mustOK(t, err)
	return c
}

func mustKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	mustOK(t, err)
	return k
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPushRequestIsSignedByTheVendorKey(t *testing.T) {
	dir := t.TempDir()
	d := mdmcerts.Dir(dir)
	apple := newFakeApple(t)
	mustOK(t, d.Init([]byte("vendor-pw"), "MDM Vendor", "mdm@example.com", "DE"))
	apple.issueVendor(t, dir)
	mustOK(t, d.Req("US", []byte("vendor-pw"), []byte("push-pw"), apple.chain()))

	b64, err := os.ReadFile(filepath.Join(dir, mdmcerts.PushRequestFile))
	mustOK(t, err)
	req, err := mdmcerts.DecodePushRequest(b64)
	mustOK(t, err)
	if req.PushCertRequestCSR == "" || req.PushCertCertificateChain == "" || req.PushCertSignature == "" {
		t.Fatalf("push.b64 lacks a key: %+v", req)
	}
	csrDER, err := base64.StdEncoding.DecodeString(req.PushCertRequestCSR)
	mustOK(t, err)
	csr, err := x509.ParseCertificateRequest(csrDER)
	mustOK(t, err)
	if csr.Subject.CommonName != "MDM Push" || len(csr.Subject.Country) != 1 || csr.Subject.Country[0] != "US" {
		t.Fatalf("push CSR subject = %v", csr.Subject)
	}
	chain, err := mdmproto.ParseCertificates([]byte(req.PushCertCertificateChain))
	mustOK(t, err)
	if len(chain) != 3 || !chain[1].Equal(apple.wwdr) || !chain[2].Equal(apple.root) {
		t.Fatalf("chain has %d certificates, want vendor, WWDR, root in that order", len(chain))
	}
	sig, err := base64.StdEncoding.DecodeString(req.PushCertSignature)
	mustOK(t, err)
	digest := sha256.Sum256(csrDER)
	if err := rsa.VerifyPKCS1v15(chain[0].PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("the signature does not verify with the vendor public key: %v", err)
	}

	// push.key opens with its password and is the CSR's key.
	keyPEM, err := os.ReadFile(filepath.Join(dir, mdmcerts.PushKeyFile))
	mustOK(t, err)
	key, err := pushcert.ParsePrivateKey(keyPEM, []byte("push-pw"))
	mustOK(t, err)
	if !key.Public().(*rsa.PublicKey).Equal(csr.PublicKey) {
		t.Fatal("push.key is not the push CSR's key")
	}
	if info, err := os.Stat(filepath.Join(dir, mdmcerts.PushKeyFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("push.key mode %v, %v; want 0600", info.Mode(), err)
	}
	if err := d.Req("US", []byte("vendor-pw"), []byte("push-pw"), apple.chain()); err == nil || !strings.Contains(err.Error(), "refusing to replace") {
		t.Fatalf("a second req: %v, want a refusal to replace push.key", err)
	}
}

func TestSignReqSignsARequestMadeElsewhere(t *testing.T) {
	dir := t.TempDir()
	d := mdmcerts.Dir(dir)
	apple := newFakeApple(t)
	mustOK(t, d.Init([]byte("pw"), "MDM Vendor", "", "US"))
	apple.issueVendor(t, dir)
	csr, err := mdmcerts.PushCSR(mustKey(t), "FR")
	mustOK(t, err)
	mustOK(t, d.SignReq(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}), []byte("pw"), apple.chain()))
	b64, err := os.ReadFile(filepath.Join(dir, mdmcerts.PushRequestFile))
	mustOK(t, err)
	req, err := mdmcerts.DecodePushRequest(b64)
	mustOK(t, err)
	if req.PushCertRequestCSR != base64.StdEncoding.EncodeToString(csr) {
		t.Fatal("push.b64 does not carry the given CSR")
	}
}

func TestClearErrors(t *testing.T) {
	dir := t.TempDir()
	d := mdmcerts.Dir(dir)
	apple := newFakeApple(t)
	mustOK(t, d.Init([]byte("right"), "MDM Vendor", "", "US"))
	if err := d.Init([]byte("right"), "MDM Vendor", "", "US"); err == nil || !strings.Contains(err.Error(), "refusing to replace") {
		t.Fatalf("second init: %v", err)
	}
	if err := d.Req("US", []byte("right"), []byte("p"), apple.chain()); err == nil || !strings.Contains(err.Error(), "vendor.crt") {
		t.Fatalf("req without the vendor certificate: %v", err)
	}
	apple.issueVendor(t, dir)
	other := newFakeApple(t)
	for name, tc := range map[string]struct {
		country   string
		password  string
		chain     []*x509.Certificate
		wantError string
	}{
		"wrong password": {"US", "wrong", apple.chain(), "password is wrong"},
		"no password":    {"US", "", apple.chain(), "password is wrong or missing"},
		"bad country":    {"usa", "right", apple.chain(), "two capital letters"},
		"no apple chain": {"US", "right", nil, "WWDR intermediate and root certificates are missing"},
		"foreign chain":  {"US", "right", other.chain(), "does not chain to Apple's certificates"},
	} {
		err := d.Req(tc.country, []byte(tc.password), []byte("p"), tc.chain)
		if err == nil || !strings.Contains(err.Error(), tc.wantError) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, tc.wantError)
		}
		if _, statErr := os.Stat(filepath.Join(dir, mdmcerts.PushRequestFile)); statErr == nil {
			t.Fatalf("%s: push.b64 written despite the error", name)
		}
	}
}

// The shipped Apple certificates are the published ones: the root has
// Apple's fingerprint (its own SHA-1 self-signature is not checked: it is the
// trust anchor), WWDR G3 is signed by it, and the root comes last.
func TestShippedAppleChain(t *testing.T) {
	chain, err := mdmcerts.AppleChain()
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 {
		t.Fatalf("%d Apple certificates shipped, want WWDR G3 and the root", len(chain))
	}
	wwdr, root := chain[0], chain[1]
	if root.Subject.CommonName != "Apple Root CA" || wwdr.Subject.OrganizationalUnit[0] != "G3" {
		t.Fatalf("chain %s / %s", wwdr.Subject, root.Subject)
	}
	if err := wwdr.CheckSignatureFrom(root); err != nil {
		t.Fatalf("WWDR G3 is not signed by the root: %v", err)
	}
	const rootSHA256 = "b0b1730ecbc7ff4505142c49f1295e6eda6bcaed7e2c68c5be91b5a11001f024"
	if got := fmt.Sprintf("%x", sha256.Sum256(root.Raw)); got != rootSHA256 {
		t.Fatalf("Apple Root CA fingerprint %s", got)
	}
}
