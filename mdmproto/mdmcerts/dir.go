package mdmcerts

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/orchardmdm/orchard/mdmproto/pushcert"

	"github.com/orchardmdm/orchard/mdmproto"
)

// File names in a working directory, as Zentral's mdmcerts lays them out.
const (
	VendorKeyFile   = "vendor.key"
	VendorCSRFile   = "vendor.csr"
	VendorCertFile  = "vendor.crt"
	PushKeyFile     = "push.key"
	PushCSRFile     = "push.csr"
	PushRequestFile = "push.b64"
)

// Dir is a working directory holding the vendor and push files.
type Dir string

func (d Dir) path(name string) string { return filepath.Join(string(d), name) }

// Init makes the vendor key, encrypted with password, and vendor.csr to
// upload to Apple's developer portal. It never overwrites a vendor key.
func (d Dir) Init(password []byte, cn, email, country string) error {
	if len(password) == 0 {
		return errors.New("a password is required to encrypt the vendor key")
	}
	if err := d.absent(VendorKeyFile); err != nil {
		return err
	}
	key, err := NewKey()
	if err != nil {
		return err
	}
	csr, err := VendorCSR(key, cn, email, country)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return err
	}
	if err := d.writeKey(VendorKeyFile, key, password); err != nil {
		return err
	}
	return d.write(VendorCSRFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}), 0o644)
}

// Req makes a push key (encrypted with pushPassword) and its request, signs
// the request with the vendor key and writes push.key, push.csr and push.b64.
func (d Dir) Req(country string, vendorPassword, pushPassword []byte, appleChain []*x509.Certificate) error {
	if len(pushPassword) == 0 {
		return errors.New("a password is required to encrypt the push key")
	}
	if err := CheckCountry(country); err != nil {
		return err
	}
	// An existing push.key may belong to an issued certificate: never replace it.
	if err := d.absent(PushKeyFile); err != nil {
		return err
	}
	vendorKey, vendorCert, err := d.vendor(vendorPassword)
	if err != nil {
		return err
	}
	key, err := NewKey()
	if err != nil {
		return err
	}
	csr, err := PushCSR(key, country)
	if err != nil {
		return err
	}
	b64, err := SignPushRequest(csr, vendorKey, vendorCert, appleChain)
	if err != nil {
		return err
	}
	if err := d.writeKey(PushKeyFile, key, pushPassword); err != nil {
		return err
	}
	if err := d.write(PushCSRFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}), 0o644); err != nil {
		return err
	}
	return d.write(PushRequestFile, b64, 0o644)
}

// SignReq signs a push request made elsewhere (PEM or DER) and writes push.b64.
func (d Dir) SignReq(csrData, vendorPassword []byte, appleChain []*x509.Certificate) error {
	csr := csrData
	if block, _ := pem.Decode(csrData); block != nil {
		csr = block.Bytes
	}
	vendorKey, vendorCert, err := d.vendor(vendorPassword)
	if err != nil {
		return err
	}
	b64, err := SignPushRequest(csr, vendorKey, vendorCert, appleChain)
	if err != nil {
		return err
	}
	return d.write(PushRequestFile, b64, 0o644)
}

// vendor reads the vendor key and the certificate Apple issued for it.
func (d Dir) vendor(password []byte) (crypto.Signer, *x509.Certificate, error) {
	keyPEM, err := os.ReadFile(d.path(VendorKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("read the vendor key (run init first): %w", err)
	}
	key, err := pushcert.ParsePrivateKey(keyPEM, password)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", d.path(VendorKeyFile), err)
	}
	certData, err := os.ReadFile(d.path(VendorCertFile))
	if err != nil {
		return nil, nil, fmt.Errorf("put the MDM vendor certificate Apple issued for %s in %s: %w",
			VendorCSRFile, d.path(VendorCertFile), err)
	}
	certs, err := mdmproto.ParseCertificates(certData)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", d.path(VendorCertFile), err)
	}
	return key, certs[0], nil
}

func (d Dir) absent(name string) error {
	_, err := os.Stat(d.path(name))
	if err == nil {
		return fmt.Errorf("%s exists: refusing to replace it", d.path(name))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (d Dir) writeKey(name string, key crypto.Signer, password []byte) error {
	data, err := pushcert.EncryptPrivateKey(key, password)
	if err != nil {
		return fmt.Errorf("encrypt %s: %w", name, err)
	}
	return d.write(name, data, 0o600)
}

func (d Dir) write(name string, data []byte, mode fs.FileMode) error {
	if err := os.WriteFile(d.path(name), data, mode); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
