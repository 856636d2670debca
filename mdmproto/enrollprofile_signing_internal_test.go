package mdmproto

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

// An enrollment profile signed by a configured identity carries the
// identity's chain, so a device trusting only the root verifies it; without
// an identity, the embedded CA signs it, and with neither (an external SCEP
// CA) it goes unsigned.
func TestEnrollmentProfileSignedByTheConfiguredIdentity(t *testing.T) {
	ctx := context.Background()
	expires := time.Now().Add(24 * time.Hour)
	root, rootKey := issue(t, "Public Root", expires, nil, nil)
	intermediate, intermediateKey := issueCert(t, "Public Intermediate", expires, root, rootKey, true)
	leaf, leafKey := issue(t, "mdm.example.com", expires, intermediate, intermediateKey)
	identity := &tls.Certificate{Certificate: [][]byte{leaf.Raw, intermediate.Raw}, PrivateKey: leafKey, Leaf: leaf}
	ca, caKey := issue(t, "orchard CA", expires, nil, nil)
	challenge := func(context.Context) (string, error) { return "challenge", nil }
	build := func(p *EnrollmentProfiles) []byte {
		t.Helper()
		p.PublicURL = "https://mdm.example.com"
		out, err := p.Build(ctx, 1, "Staff", challenge)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	signer := func(der []byte) *pkcs7.PKCS7 {
		t.Helper()
		p7, err := pkcs7.Parse(der)
		if err != nil {
			t.Fatalf("not CMS: %v", err)
		}
		return p7
	}

	p7 := signer(build(&EnrollmentProfiles{CACert: ca, CAKey: caKey, SigningIdentity: func() *tls.Certificate { return identity }}))
	roots := x509.NewCertPool()
	roots.AddCert(root)
	if err := p7.VerifyWithChain(roots); err != nil {
		t.Fatalf("a device trusting the root cannot verify the profile: %v", err)
	}
	if got := p7.GetOnlySigner(); got == nil || !got.Equal(leaf) || !bytes.Contains(p7.Content, []byte("PayloadContent")) {
		t.Fatalf("signed by %v", got)
	}

	if got := signer(build(&EnrollmentProfiles{CACert: ca, CAKey: caKey, SigningIdentity: func() *tls.Certificate { return nil }})).GetOnlySigner(); got == nil || !got.Equal(ca) {
		t.Fatalf("without an identity the profile is signed by %v, want the embedded CA", got)
	}
	external := &EnrollmentProfiles{ExternalSCEPURL: "https://scep.example.com/scep", ExternalSCEPChallenge: "x"}
	if plain := build(external); !bytes.HasPrefix(bytes.TrimSpace(plain), []byte("<?xml")) {
		t.Fatalf("external SCEP without an identity: %.40q, want an unsigned plist", plain)
	}
	external.SigningIdentity = func() *tls.Certificate { return identity }
	if err := signer(build(external)).VerifyWithChain(roots); err != nil {
		t.Fatalf("external SCEP with an identity: %v", err)
	}
}
