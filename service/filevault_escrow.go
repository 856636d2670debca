package service

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

// escrowKeyPurpose names the FileVault escrow key in server_keys.
const escrowKeyPurpose = "filevault_escrow"

// EscrowProfileIdentifier is the identifier of the profile that makes Macs
// escrow their FileVault recovery key to orchard.
const EscrowProfileIdentifier = "com.orchardmdm.filevault.escrow"

// newEscrowBundle makes the escrow key and its self-signed certificate, as
// PEM (certificate, then PKCS #8 key). Macs encrypt their recovery key to
// the certificate; only orchard, holding the sealed key, can read it.
func newEscrowBundle() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "orchard FileVault escrow"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(20, 0, 0),
		KeyUsage: x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...), nil
}

// escrowIdentity is orchard's escrow certificate and key, made on first use.
func escrowIdentity(ctx context.Context, q *store.Queries) (*x509.Certificate, *rsa.PrivateKey, error) {
	bundle, err := q.ServerKey(ctx, escrowKeyPurpose, newEscrowBundle)
	if err != nil {
		return nil, nil, err
	}
	certBlock, rest := pem.Decode(bundle)
	keyBlock, _ := pem.Decode(rest)
	if certBlock == nil || keyBlock == nil {
		return nil, nil, errors.New("filevault escrow key: malformed bundle")
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("filevault escrow certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("filevault escrow key: %w", err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("filevault escrow key is not RSA")
	}
	return cert, key, nil
}

// escrowProfile is the system-scoped profile whose FDERecoveryKeyEscrow
// payload makes a Mac encrypt its personal recovery key to cert, carried in
// the com.apple.security.pkcs1 payload it points at.
func escrowProfile(cert *x509.Certificate, location string) ([]byte, error) {
	certUUID := mdmproto.NewUUID()
	profile := map[string]any{
		"PayloadType": "Configuration", "PayloadVersion": 1, "PayloadIdentifier": EscrowProfileIdentifier,
		"PayloadUUID": mdmproto.NewUUID(), "PayloadDisplayName": "FileVault recovery key escrow",
		"PayloadScope": "System", "PayloadRemovalDisallowed": true,
		"PayloadContent": []any{
			map[string]any{"PayloadType": "com.apple.security.pkcs1", "PayloadVersion": 1,
				"PayloadIdentifier": EscrowProfileIdentifier + ".certificate", "PayloadUUID": certUUID,
				"PayloadDisplayName": "FileVault escrow certificate", "PayloadContent": cert.Raw},
			map[string]any{"PayloadType": "com.apple.security.FDERecoveryKeyEscrow", "PayloadVersion": 1,
				"PayloadIdentifier": EscrowProfileIdentifier + ".escrow", "PayloadUUID": mdmproto.NewUUID(),
				"PayloadDisplayName": "FileVault recovery key escrow", "Location": location,
				"EncryptCertPayloadUUID": certUUID},
		},
	}
	return plist.MarshalIndent(profile, "\t")
}

// escrowLocation is the text a Mac shows its user when FileVault is turned
// on: where the recovery key goes.
func (s *Service) escrowLocation() string {
	if s.publicURL == "" {
		return "Your organization's MDM server (orchard)"
	}
	return "Your organization's MDM server (orchard, " + s.publicURL + ")"
}

// queueEscrowProfileInTx queues the escrow profile, signed, on each Mac and
// pushes them. The caller's audit event covers it (a blueprint change, a
// Mac's setup).
func (s *Service) queueEscrowProfileInTx(ctx context.Context, q *store.Queries, actor string, deviceIDs []int64) error {
	if len(deviceIDs) == 0 {
		return nil
	}
	if s.profileSigner == nil {
		return errors.New("no profile signer configured: the FileVault escrow profile cannot be sent unsigned")
	}
	escrowCert, _, err := escrowIdentity(ctx, q)
	if err != nil {
		return err
	}
	content, err := escrowProfile(escrowCert, s.escrowLocation())
	if err != nil {
		return err
	}
	signCert, signKey, err := s.profileSigner(ctx)
	if err != nil {
		return fmt.Errorf("profile signer: %w", err)
	}
	signed, err := mdmproto.SignAttached(content, signCert, signKey)
	if err != nil {
		return err
	}
	tmpl, err := mdmproto.NewCommandTemplate("InstallProfile", map[string]any{"Payload": signed})
	if err != nil {
		return err
	}
	cmds := make([]store.QueuedCommand, 0, len(deviceIDs))
	for _, id := range deviceIDs {
		uuid, body := tmpl.Build()
		cmds = append(cmds, store.QueuedCommand{DeviceID: id, UUID: uuid, RequestType: "InstallProfile", Body: body, Actor: actor})
	}
	return s.queueAndPushInTx(ctx, q, cmds)
}

// escrowTurnedOnInTx installs the escrow profile on a blueprint's Macs when
// an update turns escrow on. Turning it off leaves the profile installed:
// the keys already escrowed stay readable.
func (s *Service) escrowTurnedOnInTx(ctx context.Context, q *store.Queries, actor string, before, after store.Blueprint) error {
	if before.FileVault == store.FileVaultEscrow || after.FileVault != store.FileVaultEscrow {
		return nil
	}
	if s.profileSigner == nil {
		return invalid("fileVault ESCROW needs orchard's profile signer, and this server has none")
	}
	ids, err := q.BlueprintMacs(ctx, after.ID)
	if err != nil {
		return err
	}
	return s.queueEscrowProfileInTx(ctx, q, actor, ids)
}

// setUpFileVaultEscrowInTx installs the escrow profile on a newly enrolled
// Mac whose blueprint escrows FileVault keys.
func (s *Service) setUpFileVaultEscrowInTx(ctx context.Context, q *store.Queries, deviceID int64) error {
	if escrows, err := q.MacEscrowsFileVault(ctx, deviceID); err != nil || !escrows {
		return err
	}
	return s.sendEscrowProfileInTx(ctx, q, BlueprintActor, []int64{deviceID})
}

// reinstallEscrowProfileInTx queues the escrow profile again on a Mac of an
// escrow blueprint whose ProfileList answer no longer lists it (its user
// removed it), unless an InstallProfile is already on its way to the Mac
// (perhaps this very profile, sent before the list was answered).
func (s *Service) reinstallEscrowProfileInTx(ctx context.Context, q *store.Queries, deviceID int64, listed bool) error {
	if listed {
		return nil
	}
	if escrows, err := q.MacEscrowsFileVault(ctx, deviceID); err != nil || !escrows {
		return err
	}
	if pending, err := q.CommandPending(ctx, deviceID, "InstallProfile"); err != nil || pending {
		return err
	}
	return s.sendEscrowProfileInTx(ctx, q, BlueprintActor, []int64{deviceID})
}

// sendEscrowProfileInTx queues the escrow profile on Macs or, on a server
// without a profile signer, says why it cannot: the check-in, report or
// assignment that asked for it never fails over it.
func (s *Service) sendEscrowProfileInTx(ctx context.Context, q *store.Queries, actor string, macs []int64) error {
	if s.profileSigner == nil {
		s.log.WarnContext(ctx, "FileVault escrow profile not sent: no profile signer", "device_ids", macs)
		return nil
	}
	return s.queueEscrowProfileInTx(ctx, q, actor, macs)
}
