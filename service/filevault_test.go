package service_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/devicesim"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// escrowCert is orchard's escrow certificate, read as a test may: from its
// server key (made by the escrow profile orchard queued before).
func escrowCert(t *testing.T, s *store.Store) *x509.Certificate {
	t.Helper()
	bundle, err := s.ServerKey(context.Background(), "filevault_escrow", func() ([]byte, error) {
		return nil, errors.New("the escrow key should exist already")
	})
	must(t, err)
	block, _ := pem.Decode(bundle)
	cert, err := x509.ParseCertificate(block.Bytes)
	must(t, err)
	return cert
}

// answerSecurityInfo queues a SecurityInfo and answers it carrying cms.
func answerSecurityInfo(t *testing.T, mac *simMac, cms []byte) {
	t.Helper()
	_, err := mac.svc.EnqueueCommand(context.Background(), "ada", mac.id, "SecurityInfo", nil)
	must(t, err)
	if ran := mac.run(securityInfoWith(cms)); !slices.Equal(ran, []string{"SecurityInfo"}) {
		t.Fatalf("ran %v", ran)
	}
}

func securityInfoWith(cms []byte) func(string) (string, map[string]any) {
	return func(string) (string, map[string]any) {
		return "Acknowledged", map[string]any{"SecurityInfo": map[string]any{"FDE_Enabled": true, "FDE_PersonalRecoveryKeyCMS": cms}}
	}
}

// A Mac set up on an escrow blueprint gets the escrow profile; answers that
// carry no key change nothing, keys that do not decrypt are recorded as the
// device's secret error (the answer is not refused: no retry storm), and a
// key sent as bare text, not a plist, is escrowed too.
func TestFileVaultEscrowAtSetupAndBadAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newProfileService(t)
	if _, err := svc.CreateBlueprintWith(ctx, "ada", service.BlueprintInput{Name: "Bad",
		BlueprintSettings: store.BlueprintSettings{FileVault: "ON"}}); !service.IsKind(err, service.Invalid) {
		t.Fatalf("fileVault ON: %v", err)
	}
	b, err := svc.CreateBlueprintWith(ctx, "ada", service.BlueprintInput{Name: "Escrow",
		BlueprintSettings: store.BlueprintSettings{FileVault: store.FileVaultEscrow}})
	must(t, err)
	mac := enrollMac(t, svc, s, "UDID-FV", true, false, &b.ID)
	if got := pendingTypes(t, s, mac.id); !slices.Contains(got, "InstallProfile") {
		t.Fatalf("setup queued %v, want the escrow InstallProfile", got)
	}
	mac.run(nil)
	cert := escrowCert(t, s)

	wrongCMS, err := devicesim.EncryptRecoveryKey("AAAA-BBBB", otherCert(t))
	must(t, err)
	if _, err := svc.RotateFileVaultKey(ctx, "ada", mac.id); !service.IsKind(err, service.Invalid) {
		t.Fatalf("rotation without an escrowed key: %v", err)
	}
	if _, err := svc.EnqueueCommand(ctx, "ada", mac.id, "RotateFileVaultKey", map[string]any{"KeyType": "personal",
		"FileVaultUnlock": map[string]any{"Password": "x"}}); !service.IsKind(err, service.Invalid) {
		t.Fatalf("generic enqueue of RotateFileVaultKey (a rotation to another certificate): %v", err)
	}
	for _, cms := range [][]byte{[]byte("not CMS at all"), wrongCMS} {
		answerSecurityInfo(t, mac, cms)
		checkEscrow(t, s, mac.id, false, true)
	}
	bare, err := pkcs7.Encrypt([]byte("WXYZ-2345-6789-ABCD-EFGH-JKLM\n"), []*x509.Certificate{cert})
	must(t, err)
	answerSecurityInfo(t, mac, bare)
	checkEscrow(t, s, mac.id, true, false)
	got, err := s.OpenDeviceSecret(ctx, mac.id, "filevault_prk_sealed")
	if err != nil || string(got) != "WXYZ-2345-6789-ABCD-EFGH-JKLM" {
		t.Fatalf("escrowed %q, %v", got, err)
	}
}

// A Mac already enrolled that is assigned to an escrow blueprint gets the
// escrow profile then, not at its next setup; moving it on to another
// escrow blueprint sends no second one, nor does a Mac still enrolling
// (its TokenUpdate sets it up).
func TestFileVaultEscrowProfileFollowsAnAssignment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newProfileService(t)
	escrow := func(name string) int64 {
		b, err := svc.CreateBlueprintWith(ctx, "ada", service.BlueprintInput{Name: name,
			BlueprintSettings: store.BlueprintSettings{FileVault: store.FileVaultEscrow}})
		must(t, err)
		return b.ID
	}
	first, second := escrow("Escrow"), escrow("Escrow too")
	mac := enrollMac(t, svc, s, "UDID-FV-MOVE", true, false, nil)
	mac.run(nil)
	escrowProfiles := func() int {
		var n int
		must(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM mdm_device_commands WHERE device_id = $1
			AND request_type = 'InstallProfile'`, mac.id).Scan(&n))
		return n
	}
	must(t, svc.AssignBlueprint(ctx, "ada", first, []int64{mac.id}))
	if n := escrowProfiles(); n != 1 {
		t.Fatalf("assignment to an escrow blueprint queued %d InstallProfile, want the escrow profile", n)
	}
	mac.run(nil)
	must(t, svc.AssignBlueprint(ctx, "ada", second, []int64{mac.id}))
	if n := escrowProfiles(); n != 1 {
		t.Fatalf("moving between escrow blueprints queued %d InstallProfile in all, want 1", n)
	}

	platform, appleSilicon := "macOS", true
	ch := mdmproto.Channel{Enrollment: mdmproto.Enrollment{UDID: "UDID-FV-ENROLLING"}, CertHash: []byte("hash-enrolling"),
		CertNotAfter: time.Now().Add(time.Hour)}
	must(t, svc.Authenticate(ctx, ch, mdmproto.DeviceFacts{Platform: &platform, AppleSilicon: &appleSilicon}))
	enrolling, err := s.DeviceIDByUDID(ctx, ch.UDID)
	must(t, err)
	must(t, svc.AssignBlueprint(ctx, "ada", first, []int64{enrolling}))
	if got := pendingTypes(t, s, enrolling); len(got) != 0 {
		t.Fatalf("a Mac before its TokenUpdate was sent %v on assignment", got)
	}
}

// A Mac whose user removed the escrow profile gets it again once its
// ProfileList shows it missing; a second list answered while the new
// InstallProfile is on its way sends no third, nor does a list that has it.
func TestRemovedEscrowProfileIsInstalledAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newProfileService(t)
	b, err := svc.CreateBlueprintWith(ctx, "ada", service.BlueprintInput{Name: "Escrow",
		BlueprintSettings: store.BlueprintSettings{FileVault: store.FileVaultEscrow}})
	must(t, err)
	mac := enrollMac(t, svc, s, "UDID-FV-REMOVED", true, false, &b.ID)
	mac.run(nil)
	installs := func() int {
		var n int
		must(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM mdm_device_commands WHERE device_id = $1
			AND request_type = 'InstallProfile'`, mac.id).Scan(&n))
		return n
	}
	listing := func(identifiers ...string) func(string) (string, map[string]any) {
		return func(requestType string) (string, map[string]any) {
			if requestType != "ProfileList" {
				return "Acknowledged", map[string]any{}
			}
			list := []any{}
			for _, id := range identifiers {
				list = append(list, map[string]any{"PayloadIdentifier": id})
			}
			return "Acknowledged", map[string]any{"ProfileList": list}
		}
	}
	for range 2 {
		_, err := svc.EnqueueCommand(ctx, "ada", mac.id, "ProfileList", nil)
		must(t, err)
	}
	ran := mac.run(listing("com.example.other"))
	if !slices.Equal(ran, []string{"ProfileList", "ProfileList", "InstallProfile"}) || installs() != 2 {
		t.Fatalf("ran %v, %d InstallProfile in all; want the escrow profile sent once more", ran, installs())
	}
	_, err = svc.EnqueueCommand(ctx, "ada", mac.id, "ProfileList", nil)
	must(t, err)
	mac.run(listing(service.EscrowProfileIdentifier))
	if n := installs(); n != 2 {
		t.Fatalf("%d InstallProfile after a list that has the escrow profile, want 2", n)
	}
}

func checkEscrow(t *testing.T, s *store.Store, id int64, escrowed, wantError bool) {
	t.Helper()
	d, err := s.Device(context.Background(), id)
	must(t, err)
	why, err := s.SecretError(context.Background(), id)
	must(t, err)
	if d.FileVaultPRKEscrowed != escrowed || (why != "") != wantError {
		t.Fatalf("escrowed %v, secret error %q; want escrowed %v, error %v", d.FileVaultPRKEscrowed, why, escrowed, wantError)
	}
}

// otherCert is a certificate that is not orchard's escrow certificate.
func otherCert(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "someone else"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	return cert
}
