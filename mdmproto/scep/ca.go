// Package scep is orchard's embedded SCEP certificate authority: it issues
// device identity certificates for enrollment challenges, speaking SCEP
// through github.com/smallstep/scep.
package scep

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
)

// CA is the key and certificate that sign device identities.
type CA struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
	// Validity of issued certificates.
	Validity time.Duration
}

// DefaultValidity of device identity certificates: a year, as Zentral issues.
const DefaultValidity = 365 * 24 * time.Hour

// GenerateCA makes a new self-signed CA, valid for 10 years, and returns it
// as a PEM bundle (certificate then key) to be stored sealed.
func GenerateCA(commonName string) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("scep: generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          mdmproto.RandomSerial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"orchard"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("scep: self-sign CA: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	return out, nil
}

// ParseCA reads a bundle made by GenerateCA.
func ParseCA(bundle []byte) (*CA, error) {
	ca := &CA{Validity: DefaultValidity}
	for {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			break
		}
		var err error
		switch block.Type {
		case "CERTIFICATE":
			ca.Cert, err = x509.ParseCertificate(block.Bytes)
		case "RSA PRIVATE KEY":
			ca.Key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("scep: parse CA %s: %w", block.Type, err)
		}
	}
	if ca.Cert == nil || ca.Key == nil {
		return nil, errors.New("scep: CA bundle needs a certificate and an RSA key")
	}
	return ca, nil
}

// Refusals of a certificate request, whatever its challenge.
var (
	// ErrWeakKey: an RSA key under 2048 bits, an EC key under 256, or another kind.
	ErrWeakKey = errors.New("scep: key too weak or of an unsupported kind")
	// ErrSubjectIsCA: a certificate with the CA's subject would pass for the
	// CA (or a certificate it issued to itself) wherever names are compared.
	ErrSubjectIsCA = errors.New("scep: requested subject is the CA's")
)

// MinRSABits is the smallest RSA key orchard certifies.
const MinRSABits = 2048

// CheckRequest refuses a CSR whose key is weak or whose subject is the CA's.
func (ca *CA) CheckRequest(csr *x509.CertificateRequest) error {
	switch k := csr.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return fmt.Errorf("%w: RSA %d bits", ErrWeakKey, k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return fmt.Errorf("%w: EC %d bits", ErrWeakKey, k.Curve.Params().BitSize)
		}
	default:
		return fmt.Errorf("%w: %T", ErrWeakKey, csr.PublicKey)
	}
	if bytes.Equal(csr.RawSubject, ca.Cert.RawSubject) || csr.Subject.String() == ca.Cert.Subject.String() ||
		(ca.Cert.Subject.CommonName != "" && csr.Subject.CommonName == ca.Cert.Subject.CommonName) {
		return ErrSubjectIsCA
	}
	return nil
}

// Issue signs a device identity certificate for a CSR whose signature was checked.
func (ca *CA) Issue(csr *x509.CertificateRequest) (*x509.Certificate, error) {
	return ca.IssueValid(csr, time.Now().Add(-time.Hour), time.Now().Add(ca.Validity))
}

// IssueValid signs a certificate valid between notBefore and notAfter, for
// a request CheckRequest accepts.
func (ca *CA) IssueValid(csr *x509.CertificateRequest, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	if err := ca.CheckRequest(csr); err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: mdmproto.RandomSerial(),
		Subject:      csr.Subject,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("scep: issue certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}
