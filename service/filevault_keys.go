package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/smallstep/pkcs7"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

// maxRecoveryKeyLength bounds a decrypted recovery key: Apple's are 29
// characters (six groups of four); anything far longer is not one.
const maxRecoveryKeyLength = 256

// securityInfoAnswer is the part of a SecurityInfo answer escrow reads.
type securityInfoAnswer struct {
	SecurityInfo struct {
		FDE_PersonalRecoveryKeyCMS []byte
	}
}

// rotateAnswer is a RotateFileVaultKey answer (Apple's keys).
type rotateAnswer struct {
	RotateResult struct {
		EncryptedNewRecoveryKey []byte
	}
}

// escrowFromSecurityInfo stores the recovery key a SecurityInfo answer
// carries, encrypted to orchard's escrow certificate. An answer without one
// changes nothing.
func (s *Service) escrowFromSecurityInfo(ctx context.Context, q *store.Queries, c store.CommandRef, answer []byte) error {
	if !bytes.Contains(answer, []byte("FDE_PersonalRecoveryKeyCMS")) {
		return nil
	}
	var a securityInfoAnswer
	if !s.decodeAnswer(ctx, c, answer, &a) {
		return q.SetSecretError(ctx, c.DeviceID, "SecurityInfo answer not understood")
	}
	return s.escrowRecoveryKey(ctx, q, c, a.SecurityInfo.FDE_PersonalRecoveryKeyCMS)
}

// escrowFromRotation stores the new key a RotateFileVaultKey answer carries;
// the old one stays until then.
func (s *Service) escrowFromRotation(ctx context.Context, q *store.Queries, c store.CommandRef, answer []byte) error {
	var a rotateAnswer
	if !s.decodeAnswer(ctx, c, answer, &a) {
		return q.SetSecretError(ctx, c.DeviceID, "RotateFileVaultKey answer not understood")
	}
	return s.escrowRecoveryKey(ctx, q, c, a.RotateResult.EncryptedNewRecoveryKey)
}

// escrowRecoveryKey decrypts an encrypted recovery key and seals it in place
// of the previous one. A key that does not decrypt is recorded as the
// device's secret error, never retried: the previous key stays.
func (s *Service) escrowRecoveryKey(ctx context.Context, q *store.Queries, c store.CommandRef, cms []byte) error {
	prk, err := s.decryptRecoveryKey(ctx, q, cms)
	if err != nil {
		s.log.WarnContext(ctx, "FileVault recovery key not escrowed", "device_id", c.DeviceID,
			"request_type", c.RequestType, "err", err)
		return q.SetSecretError(ctx, c.DeviceID, c.RequestType+": FileVault recovery key not escrowed: "+err.Error())
	}
	return q.SetFileVaultPRK(ctx, c.DeviceID, prk)
}

// errNoEscrowKey: nothing was ever encrypted to orchard on this database.
var errNoEscrowKey = errors.New("no escrow certificate was ever issued")

func (s *Service) decryptRecoveryKey(ctx context.Context, q *store.Queries, cms []byte) ([]byte, error) {
	if len(cms) == 0 {
		return nil, errors.New("the answer carries no encrypted key")
	}
	cert, key, err := escrowIdentity(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoEscrowKey, err)
	}
	p7, err := pkcs7.Parse(cms)
	if err != nil {
		return nil, errors.New("not a CMS message")
	}
	content, err := p7.Decrypt(cert, key)
	if err != nil {
		return nil, errors.New("does not decrypt with orchard's escrow certificate")
	}
	return recoveryKeyOf(content)
}

// recoveryKeyOf reads the decrypted content: a plist with a RecoveryKey
// string (as FileVaultPRK.dat holds it) or the key itself as text.
func recoveryKeyOf(content []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(content)
	if bytes.HasPrefix(trimmed, []byte("<?xml")) || bytes.HasPrefix(trimmed, []byte("<plist")) ||
		bytes.HasPrefix(trimmed, []byte("bplist")) {
		var p struct{ RecoveryKey string }
		if err := mdmproto.UnmarshalPlist(content, &p); err != nil {
			return nil, errors.New("decrypted content is not a readable plist")
		}
		trimmed = []byte(strings.TrimSpace(p.RecoveryKey))
	}
	if len(trimmed) == 0 || len(trimmed) > maxRecoveryKeyLength || !utf8.Valid(trimmed) {
		return nil, errors.New("decrypted content is not a recovery key")
	}
	return trimmed, nil
}

// RotateFileVaultKey asks a Mac for a new personal recovery key, unlocking
// with the escrowed one and encrypting the reply to orchard's escrow
// certificate. The escrowed key stays until the new one decrypts.
func (s *Service) RotateFileVaultKey(ctx context.Context, actor string, deviceID int64) (store.DeviceCommand, error) {
	return s.queueCommand(ctx, actor, deviceID, commandAction{requestType: "RotateFileVaultKey",
		audit: "device.rotate_filevault_key", buildInTx: rotateFileVaultPayload})
}

func rotateFileVaultPayload(ctx context.Context, q *store.Queries, d *store.Device) (map[string]any, error) {
	if d.Platform != "macOS" {
		return nil, invalid("device %d is not a Mac: FileVault is macOS only", d.ID)
	}
	current, err := q.OpenDeviceSecret(ctx, d.ID, "filevault_prk_sealed")
	if err != nil {
		return nil, err
	}
	if current == nil {
		return nil, invalid("device %d has no escrowed FileVault recovery key to unlock the rotation with", d.ID)
	}
	cert, _, err := escrowIdentity(ctx, q)
	if err != nil {
		return nil, err
	}
	return map[string]any{"KeyType": "personal", "FileVaultUnlock": map[string]any{"Password": string(current)},
		"ReplyEncryptionCertificate": cert.Raw}, nil
}
