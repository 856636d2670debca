package mdmproto

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/smallstep/pkcs7"
)

// Identity headers.
const (
	SignatureHeader = "Mdm-Signature"
	// ClientCertHeader carries the URL-escaped PEM client certificate a
	// trusted TLS-terminating proxy verified (nginx $ssl_client_escaped_cert).
	ClientCertHeader = "X-SSL-Client-Cert"
	ClientDNHeader   = "X-SSL-Client-S-DN"
)

// ErrIdentity wraps every reason a request's identity is refused.
var ErrIdentity = errors.New("device identity refused")

// ErrUntrusted is the ErrIdentity of a well-formed identity whose certificate
// is not trusted now: another CA, expired, not yet valid.
var ErrUntrusted = fmt.Errorf("%w: certificate not trusted", ErrIdentity)

// Signature is a parsed Mdm-Signature header. Its signer is known from the
// header alone, so a request from an untrusted signer can be refused before
// its body is read; Verify then checks the signature over the body.
type Signature struct {
	p7 *pkcs7.PKCS7
	// Signer is the signing certificate: not yet proved to have signed the
	// body, nor chained to a CA (that is Verifier's job).
	Signer *x509.Certificate
}

// ParseSignature reads an Mdm-Signature header: base64 CMS SignedData with
// exactly one signer and its certificate.
func ParseSignature(header string) (*Signature, error) {
	if header == "" {
		return nil, fmt.Errorf("%w: no %s header", ErrIdentity, SignatureHeader)
	}
	der, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64", ErrIdentity, SignatureHeader)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not CMS SignedData: %v", ErrIdentity, SignatureHeader, err)
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return nil, fmt.Errorf("%w: want exactly one signer with its certificate", ErrIdentity)
	}
	return &Signature{p7: p7, Signer: signer}, nil
}

// Verify checks the signature is over body: detached (what devices send) or
// attached (then it must hold exactly body).
func (s *Signature) Verify(body []byte) error {
	p7 := *s.p7
	if len(p7.Content) == 0 {
		p7.Content = body
	} else if !bytes.Equal(p7.Content, body) {
		return fmt.Errorf("%w: attached content differs from the body", ErrIdentity)
	}
	if err := p7.Verify(); err != nil {
		var timing *pkcs7.SigningTimeNotValidError
		if errors.As(err, &timing) {
			return fmt.Errorf("%w: %v", ErrUntrusted, err)
		}
		return fmt.Errorf("%w: bad signature: %v", ErrIdentity, err)
	}
	return nil
}

// VerifySignature checks an Mdm-Signature header over body and returns the
// signer's certificate; chaining it to a CA is Verifier's job.
func VerifySignature(header string, body []byte) (*x509.Certificate, error) {
	sig, err := ParseSignature(header)
	if err != nil {
		return nil, err
	}
	if err := sig.Verify(body); err != nil {
		return nil, err
	}
	return sig.Signer, nil
}

// proxyPEM unescapes a proxy's certificate header. Proxies differ: nginx
// escapes "+" and spaces as %2B and %20, some leave "+" as is (it is safe in
// a header), others write spaces as "+" (form escaping). Path unescaping
// keeps a literal "+" of the base64; form unescaping turns "+" back into the
// armor's spaces. The one that yields a PEM block is the proxy's.
func proxyPEM(header string) *pem.Block {
	for _, unescape := range []func(string) (string, error){url.PathUnescape, url.QueryUnescape} {
		if text, err := unescape(header); err == nil {
			if block, _ := pem.Decode([]byte(text)); block != nil {
				return block
			}
		}
	}
	return nil
}

// CertFromProxyHeader reads the client certificate a trusted proxy passed on.
// dn, the proxy's X-SSL-Client-S-DN, must name the same subject when sent:
// a mismatch means the proxy and orchard disagree about who connected.
func CertFromProxyHeader(header, dn string) (*x509.Certificate, error) {
	if header == "" {
		return nil, fmt.Errorf("%w: no %s header", ErrIdentity, ClientCertHeader)
	}
	block := proxyPEM(header)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrIdentity, ClientCertHeader)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrIdentity, ClientCertHeader, err)
	}
	if dn != "" && cert.Subject.CommonName != "" && !strings.Contains(dn, "CN="+cert.Subject.CommonName) {
		return nil, fmt.Errorf("%w: %s %q does not name the certificate's subject", ErrIdentity, ClientDNHeader, dn)
	}
	return cert, nil
}

// Verifier chains device certificates to the SCEP CA(s).
type Verifier struct {
	roots         *x509.CertPool
	intermediates *x509.CertPool
	now           func() time.Time
	// verified holds the certificates that chained, by the SHA-256 of their
	// DER, with their chain's expiry: a fleet checks in with the same
	// identities all day, and each check of a chain is an RSA verification
	// per link.
	verified expiringCache[time.Time]
	// proxied holds the identities read from an mTLS proxy's headers, by the
	// SHA-256 of the headers: the same header is the same certificate, not
	// URL-unescaped, PEM-decoded and parsed again on every request.
	proxied expiringCache[Identity]
}

// maxVerifiedCerts bounds the certificates (and the proxy headers) a
// Verifier remembers: a fleet's identities, with room to spare, in a few
// megabytes. Revocation is not the chain's concern: the store checks it on
// every request.
const maxVerifiedCerts = 50000

// expiringCache remembers values by a hash until each one's expiry (the
// earliest expiry in a certificate's chain), holding at most max.
type expiringCache[V any] struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]expiring[V]
	max     int
}

type expiring[V any] struct {
	value V
	until time.Time
}

func (c *expiringCache[V]) get(key [sha256.Size]byte, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.value, true
}

func (c *expiringCache[V]) put(key [sha256.Size]byte, value V, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[[sha256.Size]byte]expiring[V])
	}
	for k := range c.entries {
		if len(c.entries) < c.max {
			break
		}
		delete(c.entries, k) // map order is random: an arbitrary one goes
	}
	c.entries[key] = expiring[V]{value: value, until: until}
}

// NewVerifier trusts certificates issued under any of cas. The first
// self-signed ones are roots; the others intermediates (a full chain PEM).
func NewVerifier(cas []*x509.Certificate) (*Verifier, error) {
	if len(cas) == 0 {
		return nil, errors.New("mdmproto: no SCEP CA certificate to verify devices with")
	}
	v := &Verifier{now: time.Now, verified: expiringCache[time.Time]{max: maxVerifiedCerts},
		proxied: expiringCache[Identity]{max: maxVerifiedCerts}}
	v.roots, v.intermediates = CertPools(cas)
	if !slices.ContainsFunc(cas, SelfSigned) {
		// A chain without its root: trust the top of what was given.
		v.roots.AddCert(cas[len(cas)-1])
	}
	return v, nil
}

// Verify checks cert chains to the CA and is valid now.
func (v *Verifier) Verify(cert *x509.Certificate) error {
	_, err := v.verifiedUntil(cert)
	return err
}

// verifiedUntil verifies cert and says until when the verification holds.
func (v *Verifier) verifiedUntil(cert *x509.Certificate) (time.Time, error) {
	now, key := v.now(), sha256.Sum256(cert.Raw)
	if until, ok := v.verified.get(key, now); ok {
		return until, nil
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots: v.roots, Intermediates: v.intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q: %v", ErrUntrusted, cert.Subject.CommonName, err)
	}
	until := chainExpiry(chains[0])
	v.verified.put(key, until, until)
	return until, nil
}

// Identity is what a device request proves: the certificate its channel is
// bound to, by hash, and when that certificate expires.
type Identity struct {
	CertHash []byte
	NotAfter time.Time
}

// IdentityOf is the identity a certificate proves.
func IdentityOf(cert *x509.Certificate) Identity {
	return Identity{CertHash: CertHash(cert), NotAfter: cert.NotAfter}
}

// ProxyIdentity reads and verifies the certificate a trusted mTLS proxy
// passed on (CertFromProxyHeader, then Verify), remembering the identity of
// headers seen before until their chain expires.
func (v *Verifier) ProxyIdentity(header, dn string) (Identity, error) {
	h := sha256.New()
	h.Write([]byte(header))
	h.Write([]byte{0})
	h.Write([]byte(dn))
	var key [sha256.Size]byte
	h.Sum(key[:0])
	if id, ok := v.proxied.get(key, v.now()); ok {
		return id, nil
	}
	cert, err := CertFromProxyHeader(header, dn)
	if err != nil {
		return Identity{}, err
	}
	until, err := v.verifiedUntil(cert)
	if err != nil {
		return Identity{}, err
	}
	id := IdentityOf(cert)
	v.proxied.put(key, id, until)
	return id, nil
}

// chainExpiry is when the first certificate of a chain stops being valid.
func chainExpiry(chain []*x509.Certificate) time.Time {
	until := chain[0].NotAfter
	for _, c := range chain[1:] {
		if c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	return until
}

// CertHash is the SHA-256 of a certificate's DER: what a device channel is bound to.
func CertHash(cert *x509.Certificate) []byte {
	h := sha256.Sum256(cert.Raw)
	return h[:]
}
