// Package pushcert reads and checks APNs MDM push certificates and their private keys.
package pushcert

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/orchardmdm/orchard/mdmproto"
)

// TopicPrefix starts every MDM push topic Apple issues.
const TopicPrefix = "com.apple.mgmt"

// oidUID is the subject attribute Apple puts the push topic in (userid, RFC 4519).
var oidUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// InvalidError describes input the caller must fix: its message is safe to show.
type InvalidError struct{ Reason string }

func (e *InvalidError) Error() string { return e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

// IsInvalid reports whether err is about the input rather than the system.
func IsInvalid(err error) bool {
	var ie *InvalidError
	return errors.As(err, &ie)
}

// Cert is a checked push certificate with its matching key.
type Cert struct {
	Topic       string
	Certificate *x509.Certificate
	// CertPEM is the certificate alone, PEM encoded.
	CertPEM []byte
	// KeyDER is the unencrypted private key in PKCS #8, to be sealed at rest.
	KeyDER []byte
}

// Parse checks a push certificate (PEM or DER, or base64 of DER) and its
// private key (PEM, encrypted when password is set): the topic must be an MDM
// topic and the key must be the certificate's.
func Parse(certData, keyData, password []byte) (*Cert, error) {
	cert, err := ParseCertificate(certData)
	if err != nil {
		return nil, err
	}
	topic, err := Topic(cert)
	if err != nil {
		return nil, err
	}
	key, err := ParsePrivateKey(keyData, password)
	if err != nil {
		return nil, err
	}
	if !samePublicKey(key.Public(), cert.PublicKey) {
		return nil, invalid("the private key does not match the certificate")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pushcert: encode key: %w", err)
	}
	return &Cert{
		Topic:       topic,
		Certificate: cert,
		CertPEM:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		KeyDER:      der,
	}, nil
}

// ParseCertificate reads the first certificate of PEM, DER or base64 DER input.
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	certs, err := mdmproto.ParseCertificates(data)
	if err != nil {
		return nil, invalid("the certificate: %v", err)
	}
	return certs[0], nil
}

// Topic returns the push topic of a certificate: its subject UID, which must
// start with com.apple.mgmt.
func Topic(cert *x509.Certificate) (string, error) {
	for _, atv := range cert.Subject.Names {
		if !atv.Type.Equal(oidUID) {
			continue
		}
		topic, ok := atv.Value.(string)
		if !ok || !strings.HasPrefix(topic, TopicPrefix) {
			return "", invalid("the certificate's topic %q does not start with %s: not an MDM push certificate", atv.Value, TopicPrefix)
		}
		return topic, nil
	}
	return "", invalid("the certificate has no UID in its subject: not an MDM push certificate")
}

func samePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// TLSCertificate pairs a PEM certificate with a PKCS #8 key for mutual TLS.
func TLSCertificate(certPEM, keyDER []byte) (tls.Certificate, error) {
	cert, err := ParseCertificate(certPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pushcert: key: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}
