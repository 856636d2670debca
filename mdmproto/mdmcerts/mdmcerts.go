// Package mdmcerts makes what an MDM vendor sends Apple: the vendor
// certificate request, and push certificate requests signed with the vendor
// key (push.b64 for Apple's Push Certificates Portal).
package mdmcerts

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
)

// keyBits is the RSA size Apple expects for vendor and push keys.
const keyBits = 2048

// PushCN is the common name of push certificate requests.
const PushCN = "MDM Push"

var countryCode = regexp.MustCompile(`^[A-Z]{2}$`)

// CheckCountry refuses what is not an ISO 3166 alpha-2 code in capitals.
func CheckCountry(cc string) error {
	if !countryCode.MatchString(cc) {
		return fmt.Errorf("country code %q must be two capital letters (ISO 3166), e.g. US or DE", cc)
	}
	return nil
}

// NewKey makes an RSA key of the size Apple expects.
func NewKey() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, keyBits)
}

// VendorCSR makes the request for the MDM vendor certificate (DER), uploaded
// to Apple's developer portal.
func VendorCSR(key crypto.Signer, cn, email, country string) ([]byte, error) {
	if err := CheckCountry(country); err != nil {
		return nil, err
	}
	subject := pkix.Name{CommonName: cn, Country: []string{country}}
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: subject, EmailAddresses: nonEmpty(email), SignatureAlgorithm: x509.SHA256WithRSA,
	}, key)
}

// PushCSR makes a push certificate request (DER) with CN "MDM Push".
func PushCSR(key crypto.Signer, country string) ([]byte, error) {
	if err := CheckCountry(country); err != nil {
		return nil, err
	}
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:            pkix.Name{CommonName: PushCN, Country: []string{country}},
		SignatureAlgorithm: x509.SHA256WithRSA,
	}, key)
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// PushRequest is the plist Apple's Push Certificates Portal takes, base64 encoded.
type PushRequest struct {
	// PushCertRequestCSR is the base64 of the push CSR's DER.
	PushCertRequestCSR string
	// PushCertCertificateChain is PEM: the vendor certificate, then Apple's chain.
	PushCertCertificateChain string
	// PushCertSignature is the base64 of the vendor key's SHA-256 RSA signature of the CSR's DER.
	PushCertSignature string
}

// SignPushRequest signs a push CSR with the vendor key and returns push.b64.
// The vendor certificate must be the key's and chain to appleChain.
func SignPushRequest(csrDER []byte, vendorKey crypto.Signer, vendorCert *x509.Certificate, appleChain []*x509.Certificate) ([]byte, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("the push request is not a certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("the push request's own signature is invalid: %w", err)
	}
	issued, err := checkVendor(vendorKey, vendorCert, appleChain)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(csrDER)
	sig, err := vendorKey.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign the push request: %w", err)
	}
	var chain bytes.Buffer
	for _, c := range issued {
		_ = pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	xml, err := plist.MarshalIndent(PushRequest{
		PushCertRequestCSR:       base64.StdEncoding.EncodeToString(csrDER),
		PushCertCertificateChain: chain.String(),
		PushCertSignature:        base64.StdEncoding.EncodeToString(sig),
	}, "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the push request: %w", err)
	}
	return []byte(base64.StdEncoding.EncodeToString(xml)), nil
}

// checkVendor makes sure Apple will accept the signature: the vendor
// certificate is the key's and Apple's chain vouches for it. It returns the
// chain from the vendor certificate to the root, without the intermediates
// that did not issue it.
func checkVendor(key crypto.Signer, cert *x509.Certificate, appleChain []*x509.Certificate) ([]*x509.Certificate, error) {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("the vendor certificate is not the vendor key's: use the certificate Apple issued for vendor.csr")
	}
	if len(appleChain) == 0 {
		return nil, errors.New("Apple's WWDR intermediate and root certificates are missing: see mdmproto/mdmcerts/apple/README.md, or pass --apple-chain")
	}
	roots, inter := mdmproto.CertPools(appleChain)
	chains, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, fmt.Errorf("the vendor certificate does not chain to Apple's certificates: %w", err)
	}
	return chains[0], nil
}

// DecodePushRequest reads push.b64 back, for checks.
func DecodePushRequest(b64 []byte) (PushRequest, error) {
	var req PushRequest
	xml, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b64)))
	if err != nil {
		return req, fmt.Errorf("push request is not base64: %w", err)
	}
	if err := plist.Unmarshal(xml, &req); err != nil {
		return req, fmt.Errorf("push request is not a plist: %w", err)
	}
	return req, nil
}
