package pushcert

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"

	"github.com/youmark/pkcs8"
)

// ErrPassword is returned when an encrypted key cannot be opened with the
// password given (or none was given).
var ErrPassword = &InvalidError{Reason: "the private key is encrypted and the password is wrong or missing"}

// ParsePrivateKey reads a PEM private key: PKCS #1, SEC 1, PKCS #8, encrypted
// PKCS #8, or legacy OpenSSL encryption (Proc-Type: 4,ENCRYPTED).
func ParsePrivateKey(data, password []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, invalid("the private key is not PEM encoded")
	}
	der := block.Bytes
	// Legacy OpenSSL encryption is deprecated (unauthenticated) but still what
	// many tools write; reading it is the caller's only way in.
	if x509.IsEncryptedPEMBlock(block) {
		if len(password) == 0 {
			return nil, ErrPassword
		}
		var err error
		if der, err = x509.DecryptPEMBlock(block, password); err != nil {
			return nil, ErrPassword
		}
	}
	var key any
	var err error
	switch block.Type {
	case "ENCRYPTED PRIVATE KEY":
		if len(password) == 0 {
			return nil, ErrPassword
		}
		if key, err = pkcs8.ParsePKCS8PrivateKey(der, password); err != nil {
			return nil, ErrPassword
		}
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(der)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(der)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(der)
	default:
		return nil, invalid("unsupported private key PEM block %q", block.Type)
	}
	if err != nil {
		return nil, invalid("the private key cannot be read: it is damaged or of an unsupported kind")
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("pushcert: the private key cannot sign")
	}
	return signer, nil
}

// EncryptPrivateKey returns key as an encrypted PKCS #8 PEM block (AES-256-CBC,
// PBKDF2), or unencrypted PKCS #8 when password is empty.
func EncryptPrivateKey(key crypto.Signer, password []byte) ([]byte, error) {
	if len(password) == 0 {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}
	der, err := pkcs8.MarshalPrivateKey(key, password, nil)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}), nil
}
