package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/mdmcerts"
)

// TestMdmcertsCommand walks init, Apple's issuing (faked), req and sign-req
// through the command line, passwords from stdin and from files.
func TestMdmcertsCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	run1 := func(stdin string, args ...string) error {
		out.Reset()
		errOut.Reset()
		return run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	}
	if err := run1("vendor-pw\n", "mdmcerts", "-d", dir, "init", "--email", "mdm@example.com", "--country", "DE"); err != nil {
		t.Fatalf("init: %v (%s)", err, errOut.String())
	}
	if err := run1("vendor-pw\npush-pw\n", "mdmcerts", "-d", dir, "req", "US"); err == nil || !strings.Contains(err.Error(), "vendor.crt") {
		t.Fatalf("req before the vendor certificate exists: %v", err)
	}

	chainFile := fakeAppleIssues(t, dir)
	pwFile := filepath.Join(t.TempDir(), "pw")
	mustCerts(t, os.WriteFile(pwFile, []byte("vendor-pw\n"), 0o600))
	if err := run1("wrong\npush-pw\n", "mdmcerts", "-d", dir, "--apple-chain", chainFile, "req", "US"); err == nil || !strings.Contains(err.Error(), "password is wrong") {
		t.Fatalf("req with a wrong vendor password: %v", err)
	}
	if err := run1("push-pw\n", "mdmcerts", "-d", dir, "--password-file", pwFile, "req", "US", "--apple-chain", chainFile); err != nil {
		t.Fatalf("req: %v (%s)", err, errOut.String())
	}
	for _, name := range []string{"vendor.key", "vendor.csr", "push.key", "push.csr", "push.b64"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("%s missing after req: %v", name, err)
		}
	}
	if err := run1("", "mdmcerts", "-d", dir, "--password-file", pwFile, "--apple-chain", chainFile, "sign-req", filepath.Join(dir, "push.csr")); err != nil {
		t.Fatalf("sign-req: %v (%s)", err, errOut.String())
	}
	if err := run1("", "mdmcerts", "-d", dir, "frobnicate"); err != errUsage {
		t.Fatalf("unknown subcommand: %v, want the usage", err)
	}
}

// fakeAppleIssues plays Apple: a root and an intermediate issue vendor.crt for
// vendor.csr. It returns the PEM file with the two Apple certificates.
func fakeAppleIssues(t *testing.T, dir string) string {
	t.Helper()
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	mustCerts(t, err)
	interKey, err := rsa.GenerateKey(rand.Reader, 2048)
	mustCerts(t, err)
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
			BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, ca("Root"), ca("Root"), &rootKey.PublicKey, rootKey)
	mustCerts(t, err)
	root, _ := x509.ParseCertificate(rootDER)
	interDER, err := x509.CreateCertificate(rand.Reader, ca("WWDR"), root, &interKey.PublicKey, rootKey)
	mustCerts(t, err)
	inter, _ := x509.ParseCertificate(interDER)
	csrPEM, err := os.ReadFile(filepath.Join(dir, mdmcerts.VendorCSRFile))
	mustCerts(t, err)
	block, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	mustCerts(t, err)
	leaf := ca("MDM Vendor")
	leaf.IsCA, leaf.KeyUsage = false, x509.KeyUsageDigitalSignature
	vendorDER, err := x509.CreateCertificate(rand.Reader, leaf, inter, csr.PublicKey, interKey)
	mustCerts(t, err)
	mustCerts(t, os.WriteFile(filepath.Join(dir, mdmcerts.VendorCertFile), vendorDER, 0o644))
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: interDER})...)
	file := filepath.Join(t.TempDir(), "apple.pem")
	mustCerts(t, os.WriteFile(file, chain, 0o644))
	return file
}

func mustCerts(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
