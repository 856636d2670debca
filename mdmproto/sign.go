package mdmproto

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/smallstep/pkcs7"
)

// Sign makes the Mdm-Signature header value a device sends: base64 of a
// detached CMS SignedData over body, carrying the signer's certificate.
func Sign(body []byte, cert *x509.Certificate, key crypto.PrivateKey) (string, error) {
	der, err := signCMS(body, cert, key, nil, true)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// SignAttached returns CMS SignedData holding data, as signed profiles are.
func SignAttached(data []byte, cert *x509.Certificate, key crypto.PrivateKey) ([]byte, error) {
	return signCMS(data, cert, key, nil, false)
}

// SignAttachedWith is SignAttached by a certificate and key pair whose
// chain (the certificates after the leaf) travels in the CMS too, so a
// device can build the path to a root it trusts.
func SignAttachedWith(data []byte, identity *tls.Certificate) ([]byte, error) {
	if identity == nil || identity.Leaf == nil {
		return nil, errors.New("cms: a signing identity needs its parsed certificate")
	}
	parents := make([]*x509.Certificate, 0, len(identity.Certificate))
	for _, der := range identity.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("cms: signing chain: %w", err)
		}
		parents = append(parents, c)
	}
	return signCMS(data, identity.Leaf, identity.PrivateKey, parents, false)
}

func signCMS(data []byte, cert *x509.Certificate, key crypto.PrivateKey, parents []*x509.Certificate, detach bool) ([]byte, error) {
	sd, err := pkcs7.NewSignedData(data)
	if err != nil {
		return nil, fmt.Errorf("cms: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSignerChain(cert, key, parents, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, fmt.Errorf("cms: sign: %w", err)
	}
	if detach {
		sd.Detach()
	}
	der, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("cms: %w", err)
	}
	return der, nil
}

// OpenSigned returns the content of attached CMS SignedData after checking
// its signature (not its chain: a DEP device's machine info is signed by
// Apple's device CA, which orchard does not need to trust), and the signer.
func OpenSigned(der []byte) ([]byte, *x509.Certificate, error) {
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: not CMS SignedData: %v", ErrMalformed, err)
	}
	if err := p7.Verify(); err != nil {
		return nil, nil, fmt.Errorf("%w: bad CMS signature: %v", ErrIdentity, err)
	}
	return p7.Content, p7.GetOnlySigner(), nil
}
