package store_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/embeddedpg"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// fillWithSecrets gives a database one of every secret orchard keeps, some
// commands pending and some answered, and returns the secrets in the clear.
func fillWithSecrets(t *testing.T, s *store.Store) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	secrets := map[string][]byte{"unlock token": []byte("unlock-token-5150"), "bootstrap token": []byte("bootstrap-9001"),
		"FileVault key": []byte("prk-AAAA-BBBB"), "push key": []byte("push-key-der-7777"),
		"lock PIN": []byte("404142"), "pending erase PIN": []byte("505152"), "recovery password": []byte("recovery-pw-1234"),
		"firmware password": []byte("firmware-pw-5678"), "profile password": []byte("wifi-pw-2468"),
		"clear-passcode unlock token": []byte("passcode-unlock-1357"), "SecurityInfo answer": []byte("prk-cms-2222"),
		"app configuration answer": []byte("app-config-token-3333"), "library profile password": []byte("vpn-pw-9753"),
		"bulk-queued profile password":  []byte("eap-pw-8642"),
		"FileVault key rotation unlock": []byte("prk-unlock-CCCC-DDDD")}
	d := enrolledDevice(t, s, "BUSY-1", secrets["unlock token"])
	mustQueue(t, s.SetBootstrapToken(ctx, d.ch, secrets["bootstrap token"]))
	mustQueue(t, s.SetFileVaultPRK(ctx, d.id, secrets["FileVault key"])) // as escrow stores a decrypted key
	addServerSecrets(t, s, secrets)

	lock := d.queue(t, "DeviceLock", map[string]any{"PIN": string(secrets["lock PIN"])})
	info := d.queue(t, "SecurityInfo", nil)
	apps := d.queue(t, "ManagedApplicationConfiguration", nil)
	d.queue(t, "SetRecoveryLock", map[string]any{"NewPassword": string(secrets["recovery password"])})
	d.queue(t, "SetFirmwarePassword", map[string]any{"NewPassword": string(secrets["firmware password"])})
	d.queue(t, "InstallProfile", map[string]any{"Payload": []byte("<key>Password</key><string>" + string(secrets["profile password"]) + "</string>")})
	d.queue(t, "ClearPasscode", map[string]any{"UnlockToken": secrets["clear-passcode unlock token"]})
	d.queue(t, "EraseDevice", map[string]any{"PIN": string(secrets["pending erase PIN"])})
	d.queue(t, "RotateFileVaultKey", map[string]any{"KeyType": "personal",
		"FileVaultUnlock": map[string]any{"Password": string(secrets["FileVault key rotation unlock"])}})
	if next, err := s.Idle(ctx, d.ch); err != nil || next.UUID != lock {
		t.Fatalf("Idle: %q %v", next.UUID, err)
	}
	d.answer(t, lock, "Acknowledged", nil)
	d.answer(t, info, "Acknowledged", []byte(`{"SecurityInfo":{"FDE_PersonalRecoveryKeyCMS":"`+string(secrets["SecurityInfo answer"])+`"}}`))
	d.answer(t, apps, "Acknowledged", []byte(`{"ApplicationConfigurations":[{"Configuration":{"token":"`+
		string(secrets["app configuration answer"])+`"}}]}`))
	addEnrollmentSecrets(t, s, secrets)

	_, err := s.CreateProfile(ctx, store.NewProfile{Identifier: "com.example.vpn", PayloadUUID: "U", Scope: "System",
		Hash: "h", PayloadTypes: []string{"com.apple.vpn.managed"},
		Content: []byte("<key>Password</key><string>" + string(secrets["library profile password"]) + "</string>")})
	mustQueue(t, err)
	bulkUUID, bulkBody, err := mdmproto.NewCommand("InstallProfile", map[string]any{"Payload": secrets["bulk-queued profile password"]})
	mustQueue(t, err)
	mustQueue(t, s.Tx(ctx, func(q *store.Queries) error {
		return q.QueueCommands(ctx, []store.QueuedCommand{{DeviceID: d.id, UUID: bulkUUID, RequestType: "InstallProfile", Body: bulkBody}})
	}))
	return secrets
}

// addServerSecrets adds orchard's own keys and those of Apple's services.
func addServerSecrets(t *testing.T, s *store.Store, secrets map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	_, err := s.CreatePushCertificate(ctx, store.PushCertificateInput{Name: "push", Topic: "com.apple.mgmt.busy",
		CertPEM: []byte("cert"), KeyDER: secrets["push key"], NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)})
	mustQueue(t, err)
	jwtKey, err := s.ServerKey(ctx, "jwt", func() ([]byte, error) { return []byte("server-key-8888"), nil })
	mustQueue(t, err)
	secrets["server key"] = jwtKey
	escrowKey, err := s.ServerKey(ctx, "filevault_escrow", func() ([]byte, error) { return []byte("escrow-key-6666"), nil })
	mustQueue(t, err)
	secrets["FileVault escrow key"] = escrowKey
	newKey, newCert, err := dep.NewKeyPair("busy")
	mustQueue(t, err)
	tok, err := s.InsertDEPToken(ctx, "busy", newCert, newKey)
	mustQueue(t, err)
	_, depKey, err := s.DEPTokenKey(ctx, tok.ID)
	mustQueue(t, err)
	secrets["DEP token key"] = x509.MarshalPKCS1PrivateKey(depKey)
	secrets["Apps and Books content token"] = []byte("eyJ0b2tlbiI6InZwcC1jb250ZW50LTQzMjEifQ==")
	_, err = s.SaveLocation(ctx, store.LocationInput{LibraryUID: "2049025000431439", Name: "busy", OrganizationName: "Org",
		MdmInfoID: "m", ServerTokenExpirationDate: time.Now().AddDate(1, 0, 0),
		SToken: string(secrets["Apps and Books content token"]), NotificationSecretSHA256: []byte{1}})
	mustQueue(t, err)
}

// addEnrollmentSecrets makes an enrollment (its profile URL's secret), a DEP
// enrollment (whose secret is kept sealed for Apple) and a live SCEP challenge.
func addEnrollmentSecrets(t *testing.T, s *store.Store, secrets map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	ota, err := s.CreateEnrollment(ctx, store.NewEnrollment{Name: "busy OTA"})
	mustQueue(t, err)
	dep, err := s.DEPEnrollment(ctx, "busy DEP profile")
	mustQueue(t, err)
	challenge, err := s.NewSCEPChallenge(ctx, ota.ID, time.Hour)
	mustQueue(t, err)
	secrets["enrollment secret"] = []byte(ota.Secret)
	secrets["DEP enrollment secret"] = []byte(dep.Secret)
	secrets["SCEP challenge"] = []byte(challenge)
}

// clearForms are the ways a secret can show in a dump: as text, base64 (a
// plist's <data>), and the hex of either (how pg_dump writes bytea).
func clearForms(secret []byte) []string {
	b64 := strings.TrimRight(base64.StdEncoding.EncodeToString(secret), "=")
	b64 = b64[:len(b64)/4*4] // the aligned part: what any encoding of it contains
	return []string{string(secret), b64, hex.EncodeToString(secret), hex.EncodeToString([]byte(b64))}
}

// TestPgDumpShowsNoSecretInClear dumps a busy database with pg_dump and looks
// for every secret it holds, in every form it could take.
func TestPgDumpShowsNoSecretInClear(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	s, err := store.Open(context.Background(), dsn, pgtest.Sealer(t), store.Options{MaxConns: 4})
	mustQueue(t, err)
	defer s.Close()
	secrets := fillWithSecrets(t, s)
	bins, err := embeddedpg.FindBinaries()
	mustQueue(t, err)
	dump, err := exec.Command(filepath.Join(bins.Dir, "pg_dump"), "--data-only", "--dbname", dsn).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, dump)
	}
	if !strings.Contains(string(dump), "mdm_device_commands") || !strings.Contains(string(dump), "BUSY-1") {
		t.Fatalf("the dump holds no commands or devices:\n%.2000s", dump)
	}
	for name, secret := range secrets {
		for _, form := range clearForms(secret) {
			if strings.Contains(string(dump), form) {
				t.Errorf("pg_dump shows the %s in the clear (as %q)", name, form)
			}
		}
	}
}

// TestEverySealedColumnIsListed: a *_sealed column missing from the list
// would be left out of `orchard keys status` and rewrap, and keep an old key
// alive for ever.
func TestEverySealedColumnIsListed(t *testing.T) {
	t.Parallel()
	s := pgtest.New(t)
	rows, err := s.Pool().Query(context.Background(), `SELECT table_name || '.' || column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND column_name LIKE '%\_sealed' ORDER BY 1`)
	mustQueue(t, err)
	listed := map[string]bool{}
	for _, c := range store.SealedColumns() {
		listed[c] = true
	}
	var found int
	for rows.Next() {
		var c string
		mustQueue(t, rows.Scan(&c))
		found++
		if !listed[c] {
			t.Errorf("sealed column %s is not in store's sealedTables", c)
		}
	}
	mustQueue(t, rows.Err())
	if found != len(listed) {
		t.Errorf("%d *_sealed columns in the schema, %d listed", found, len(listed))
	}
}
