package scep

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/smallstep/scep"
	"github.com/smallstep/scep/x509util"

	"github.com/orchardmdm/orchard/mdmproto"
)

// Request asks a SCEP server for a certificate, as a device does when it
// installs an enrollment profile. It returns the issued certificate.
func Request(ctx context.Context, client *http.Client, serverURL, challenge, commonName string, key *rsa.PrivateKey) (*x509.Certificate, error) {
	caCerts, err := getCACerts(ctx, client, serverURL)
	if err != nil {
		return nil, err
	}
	csrDER, err := x509util.CreateCertificateRequest(rand.Reader, &x509util.CertificateRequest{
		CertificateRequest: x509.CertificateRequest{Subject: pkix.Name{CommonName: commonName}},
		ChallengePassword:  challenge,
	}, key)
	if err != nil {
		return nil, fmt.Errorf("scep client: CSR: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("scep client: CSR: %w", err)
	}
	// SCEP signs the request with a throwaway self-signed certificate.
	self, err := selfSigned(key, commonName)
	if err != nil {
		return nil, err
	}
	req, err := scep.NewCSRRequest(csr, &scep.PKIMessage{
		MessageType: scep.PKCSReq, Recipients: caCerts, SignerKey: key, SignerCert: self,
	})
	if err != nil {
		return nil, fmt.Errorf("scep client: build request: %w", err)
	}
	body, err := do(ctx, client, http.MethodPost, serverURL+"?operation=PKIOperation", req.Raw)
	if err != nil {
		return nil, err
	}
	rep, err := scep.ParsePKIMessage(body, scep.WithCACerts(caCerts))
	if err != nil {
		return nil, fmt.Errorf("scep client: parse CertRep: %w", err)
	}
	if rep.PKIStatus != scep.SUCCESS {
		return nil, fmt.Errorf("scep client: server refused: %s (%s)", rep.PKIStatus, rep.FailInfo)
	}
	if err := rep.DecryptPKIEnvelope(self, key); err != nil {
		return nil, fmt.Errorf("scep client: decrypt CertRep: %w", err)
	}
	return rep.Certificate, nil
}

func getCACerts(ctx context.Context, client *http.Client, serverURL string) ([]*x509.Certificate, error) {
	body, err := do(ctx, client, http.MethodGet, serverURL+"?operation=GetCACert", nil)
	if err != nil {
		return nil, err
	}
	if c, err := x509.ParseCertificate(body); err == nil {
		return []*x509.Certificate{c}, nil
	}
	certs, err := scep.CACerts(body)
	if err != nil {
		return nil, fmt.Errorf("scep client: GetCACert: %w", err)
	}
	return certs, nil
}

func selfSigned(key *rsa.PrivateKey, cn string) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: mdmproto.RandomSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("scep client: self-signed certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func do(ctx context.Context, client *http.Client, method, u string, body []byte) ([]byte, error) {
	if _, err := url.Parse(u); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-pki-message")
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scep client: %w", err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("scep client: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scep client: %s: HTTP %d: %s", method, res.StatusCode, bytes.TrimSpace(out))
	}
	return out, nil
}
