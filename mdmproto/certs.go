package mdmproto

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"math/big"
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
