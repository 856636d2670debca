package mdmproto

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// SelfSigned reports whether a certificate is its own issuer: a root.
func SelfSigned(c *x509.Certificate) bool { return bytes.Equal(c.RawIssuer, c.RawSubject) }

// CertPools splits a chain into its roots (self-signed) and intermediates.
func CertPools(chain []*x509.Certificate) (roots, intermediates *x509.CertPool) {
	roots, intermediates = x509.NewCertPool(), x509.NewCertPool()
	for _, c := range chain {
		if SelfSigned(c) {
			roots.AddCert(c)
		} else {
			intermediates.AddCert(c)
		}
	}
	return roots, intermediates
}

// RandomSerial is a positive 127-bit certificate serial number.
func RandomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("mdmproto: the system random source failed: " + err.Error())
	}
	return n.Add(n, big.NewInt(1))
}

// ParseCertificates reads what people paste or upload: every certificate of
// PEM text, or one certificate as DER or base64 DER.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return ParsePEMCertificates(data)
	}
	der := data
	if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data))); err == nil {
		der = raw
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errors.New("not a PEM or DER X.509 certificate")
	}
	return []*x509.Certificate{c}, nil
}

// ParsePEMCertificates reads every CERTIFICATE block of a PEM text.
func ParsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	other := ""
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			other = block.Type
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a PEM or DER X.509 certificate: %w", err)
		}
		certs = append(certs, c)
	}
	switch {
	case len(certs) > 0:
		return certs, nil
	case other != "":
		return nil, fmt.Errorf("expected a CERTIFICATE PEM block, got %q", other)
	}
	return nil, errors.New("no PEM certificate found")
}
