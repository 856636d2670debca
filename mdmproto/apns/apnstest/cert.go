package apnstest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"time"
)

// PushCert is a self-signed stand-in for an Apple push certificate.
type PushCert struct {
	CertPEM []byte
	// KeyPEM is the unencrypted PKCS #1 key.
	KeyPEM []byte
	Key    *rsa.PrivateKey
	Cert   *x509.Certificate
	TLS    tls.Certificate
}

// NewPushCert makes a certificate whose subject UID is topic, valid until notAfter.
// RSA 2048 like Apple's: tests exercise the same key sizes as production.
func NewPushCert(topic string, notAfter time.Time) (*PushCert, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return PushCertWithKey(topic, notAfter, key)
}

// PushCertWithKey is NewPushCert with a given key, for renewals that keep it.
func PushCertWithKey(topic string, notAfter time.Time, key *rsa.PrivateKey) (*PushCert, error) {
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName: "APSP:" + topic,
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: topic}},
		},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &PushCert{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		Key:     key,
		Cert:    cert,
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
	}, nil
}
