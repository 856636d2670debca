package pushcert_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/apns/apnstest"
	"github.com/orchardmdm/orchard/mdmproto/pushcert"
)

const topic = "com.apple.mgmt.External.0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

func newCert(t *testing.T, topic string) *apnstest.PushCert {
	t.Helper()
	pc, err := apnstest.NewPushCert(topic, time.Now().Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

func TestParseReadsTopicFromEveryEncoding(t *testing.T) {
	pc := newCert(t, topic)
	encrypted, err := pushcert.EncryptPrivateKey(pc.Key, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	//nolint:staticcheck // the legacy format is one users bring
	legacy, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(pc.Key), []byte("s3cret"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ cert, key, password []byte }{
		"pem and pkcs1":         {pc.CertPEM, pc.KeyPEM, nil},
		"der":                   {pc.Cert.Raw, pc.KeyPEM, nil},
		"base64 der":            {[]byte(base64.StdEncoding.EncodeToString(pc.Cert.Raw)), pc.KeyPEM, nil},
		"encrypted pkcs8":       {pc.CertPEM, encrypted, []byte("s3cret")},
		"legacy encrypted pem":  {pc.CertPEM, pem.EncodeToMemory(legacy), []byte("s3cret")},
		"password not required": {pc.CertPEM, pc.KeyPEM, []byte("ignored")},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := pushcert.Parse(tc.cert, tc.key, tc.password)
			if err != nil {
				t.Fatal(err)
			}
			if c.Topic != topic {
				t.Fatalf("topic %q, want %q", c.Topic, topic)
			}
			if _, err := pushcert.TLSCertificate(c.CertPEM, c.KeyDER); err != nil {
				t.Fatalf("stored form does not load: %v", err)
			}
		})
	}
}

func TestParseRefusesWithTheReason(t *testing.T) {
	pc := newCert(t, topic)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)})
	encrypted, err := pushcert.EncryptPrivateKey(pc.Key, []byte("right"))
	if err != nil {
		t.Fatal(err)
	}
	notMDM := newCert(t, "com.example.app")
	for name, tc := range map[string]struct {
		cert, key, password []byte
		want                string
	}{
		"mismatched key":   {pc.CertPEM, otherPEM, nil, "does not match"},
		"wrong topic":      {notMDM.CertPEM, notMDM.KeyPEM, nil, "does not start with com.apple.mgmt"},
		"garbage cert":     {[]byte("hello"), pc.KeyPEM, nil, "not a PEM or DER"},
		"garbage key":      {pc.CertPEM, []byte("hello"), nil, "not PEM"},
		"wrong password":   {pc.CertPEM, encrypted, []byte("wrong"), "password is wrong"},
		"missing password": {pc.CertPEM, encrypted, nil, "password is wrong or missing"},
		"key as cert":      {pc.KeyPEM, pc.KeyPEM, nil, "expected a CERTIFICATE"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := pushcert.Parse(tc.cert, tc.key, tc.password)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
			if !pushcert.IsInvalid(err) {
				t.Fatalf("%v is not an input error", err)
			}
		})
	}
}
