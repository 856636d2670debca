package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/orchardmdm/orchard/store/pgtest"
)

// writeCert writes a self-signed certificate for 127.0.0.1 named cn and its
// key to certFile and keyFile, and returns the certificate.
func writeCert(t *testing.T, cn, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written aside and renamed in, as a certificate renewal tool does.
	for file, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(file+".new", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".new", file); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// servedCert makes a fresh HTTPS connection trusting roots and returns the
// certificate served and the protocol negotiated.
func servedCert(t *testing.T, url string, roots *x509.CertPool) (string, string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DisableKeepAlives: true,
	}}
	res, err := client.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /healthz over HTTPS: %d", res.StatusCode)
	}
	return res.TLS.PeerCertificates[0].Subject.CommonName, res.Proto
}

// waitForLog waits until the server has logged want (it logs every reload).
func waitForLog(t *testing.T, s *runningServer, want string, count int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(s.logs(), want) < count {
		if time.Now().After(deadline) {
			t.Fatalf("server never logged %q %d times:\n%s", want, count, s.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeHTTPSReloadsCertificateOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	roots := x509.NewCertPool()
	roots.AddCert(writeCert(t, "first", certFile, keyFile))
	cmd := orchardCmd(t, pgtest.NewDatabase(t), testKey(t), "serve", "--listen", "127.0.0.1:0",
		"--tls-cert", certFile, "--tls-key", keyFile)
	s, err := launchServerWith(t, cmd)
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + s.addr
	if cn, proto := servedCert(t, url, roots); cn != "first" || proto != "HTTP/2.0" {
		t.Fatalf("served %q over %s, want first over HTTP/2.0", cn, proto)
	}

	roots.AddCert(writeCert(t, "second", certFile, keyFile))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, s, "reloaded certificate", 1)
	if cn, _ := servedCert(t, url, roots); cn != "second" {
		t.Fatalf("after SIGHUP served %q, want second", cn)
	}

	// A broken pair is refused and the running certificate stays.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, s, "certificate not reloaded", 1)
	if cn, _ := servedCert(t, url, roots); cn != "second" {
		t.Fatalf("after a failed reload served %q, want second", cn)
	}
}

// With --profile-signing-cert, enrollment profiles are signed by that
// certificate instead of orchard's CA, and SIGHUP reloads it as it does
// the TLS pair.
func TestServeSignsEnrollmentProfilesWithTheConfiguredCertificate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "signing.crt"), filepath.Join(dir, "signing.key")
	first := writeCert(t, "profiles.example.com", certFile, keyFile)
	dsn, key := pgtest.NewDatabase(t), testKey(t)
	cmd := orchardCmd(t, dsn, key, "serve", "--listen", "127.0.0.1:0",
		"--profile-signing-cert", certFile, "--profile-signing-key", keyFile)
	s, err := launchServerWith(t, cmd)
	if err != nil {
		t.Fatal(err)
	}
	token, err := orchardCmd(t, dsn, key, "token", "create", "--name", "signing", "--permission", "mdm.*").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	api := &graphqlClient{base: "http://" + s.addr, token: strings.TrimSpace(string(token)), http: http.DefaultClient}
	enrollURL, err := api.createEnrollment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signer := func() *x509.Certificate {
		t.Helper()
		u, err := url.Parse(enrollURL)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.Get("http://" + s.addr + u.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		p7, err := pkcs7.Parse(body)
		if err != nil {
			t.Fatalf("profile (%d) is not CMS: %v", res.StatusCode, err)
		}
		return p7.GetOnlySigner()
	}
	if got := signer(); got == nil || !got.Equal(first) {
		t.Fatalf("profile signed by %v, want the configured certificate", got)
	}
	second := writeCert(t, "profiles-renewed.example.com", certFile, keyFile)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, s, "reloaded certificate", 1)
	if got := signer(); got == nil || !got.Equal(second) {
		t.Fatalf("after SIGHUP the profile is signed by %v, want the renewed certificate", got)
	}
}
