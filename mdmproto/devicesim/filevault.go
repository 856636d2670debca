package devicesim

import (
	"crypto/rand"
	"crypto/x509"
	"strings"

	"github.com/micromdm/plist"
	"github.com/smallstep/pkcs7"

	"github.com/orchardmdm/orchard/mdmproto"
)

// escrowPayloads is the part of a profile's payloads FileVault escrow reads.
type escrowPayloads struct {
	PayloadContent []struct {
		PayloadType            string
		PayloadUUID            string
		PayloadContent         any
		EncryptCertPayloadUUID string
	}
}

// EscrowCertificate is the certificate an installed profile's
// com.apple.security.FDERecoveryKeyEscrow payload encrypts the FileVault
// recovery key to (the pkcs1 payload its EncryptCertPayloadUUID names), or
// nil when no installed profile asks for escrow.
func (d *Device) EscrowCertificate() *x509.Certificate {
	for _, p := range d.profiles {
		if cert := escrowCertificateIn(p.Content); cert != nil {
			return cert
		}
	}
	return nil
}

func escrowCertificateIn(content []byte) *x509.Certificate {
	var p escrowPayloads
	if err := plist.Unmarshal(content, &p); err != nil {
		return nil
	}
	for _, escrow := range p.PayloadContent {
		if escrow.PayloadType != "com.apple.security.FDERecoveryKeyEscrow" {
			continue
		}
		for _, c := range p.PayloadContent {
			der, isData := c.PayloadContent.([]byte)
			if c.PayloadType == "com.apple.security.pkcs1" && c.PayloadUUID == escrow.EncryptCertPayloadUUID && isData {
				if cert, err := x509.ParseCertificate(der); err == nil {
					return cert
				}
			}
		}
	}
	return nil
}

// EncryptRecoveryKey wraps a recovery key as a Mac escrows it: a plist with
// its RecoveryKey, in CMS EnvelopedData encrypted to cert.
func EncryptRecoveryKey(prk string, cert *x509.Certificate) ([]byte, error) {
	content, err := plist.Marshal(map[string]any{"RecoveryKey": prk})
	if err != nil {
		return nil, err
	}
	return pkcs7.Encrypt(content, []*x509.Certificate{cert})
}

// NewRecoveryKey is a key in the form Macs make them: six groups of four.
func NewRecoveryKey() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	groups := make([]string, 6)
	for i := range groups {
		g := make([]byte, 4)
		for j := range g {
			g[j] = alphabet[int(b[i*4+j])%len(alphabet)]
		}
		groups[i] = string(g)
	}
	return strings.Join(groups, "-")
}

// securityInfoFileVault adds the escrowed recovery key to a SecurityInfo
// answer when FileVault is on and an escrow profile is installed.
func (d *Device) securityInfoFileVault(info map[string]any) {
	cert := d.EscrowCertificate()
	if d.FileVaultPRK == "" || cert == nil {
		return
	}
	if cms, err := EncryptRecoveryKey(d.FileVaultPRK, cert); err == nil {
		info["FDE_PersonalRecoveryKeyCMS"] = cms
	}
}

// rotateFileVaultKey answers RotateFileVaultKey: the current key unlocks,
// a new one is made and returned encrypted to ReplyEncryptionCertificate.
func (d *Device) rotateFileVaultKey(cmd *Command) (string, map[string]any) {
	unlock, _ := cmd.Fields["FileVaultUnlock"].(map[string]any)
	password, _ := unlock["Password"].(string)
	der, _ := cmd.Fields["ReplyEncryptionCertificate"].([]byte)
	cert, err := x509.ParseCertificate(der)
	if d.FileVaultPRK == "" || password != d.FileVaultPRK || err != nil {
		return mdmproto.StatusError, map[string]any{"ErrorChain": []any{map[string]any{
			"ErrorCode": 12, "ErrorDomain": "MDMErrorDomain", "LocalizedDescription": "FileVault key not rotated"}}}
	}
	next := NewRecoveryKey()
	cms, err := EncryptRecoveryKey(next, cert)
	if err != nil {
		return mdmproto.StatusError, nil
	}
	d.FileVaultPRK = next
	return mdmproto.StatusAcknowledged, map[string]any{"RotateResult": map[string]any{"EncryptedNewRecoveryKey": cms}}
}
