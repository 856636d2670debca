package graph_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/orchardmdm/orchard/mdmproto/devicesim"
)

// fileVaultState is what the API shows of a Mac's escrowed key.
type fileVaultState struct {
	Device struct {
		FilevaultPrkEscrowed bool
		FilevaultPrk         *string
	}
}

func readFileVault(t *testing.T, api *profileAPI, tok string, id int64) fileVaultState {
	t.Helper()
	var out fileVaultState
	api.query(tok, `query($id: ID!) { device(id: $id) { filevaultPrkEscrowed filevaultPrk } }`,
		map[string]any{"id": fmt.Sprint(id)}).decode(t, &out)
	return out
}

func secretError(t *testing.T, api *profileAPI, id int64) string {
	t.Helper()
	var why string
	must(t, api.store.Pool().QueryRow(context.Background(), "SELECT secret_error FROM enrolled_devices WHERE id = $1", id).Scan(&why))
	return why
}

// Acceptance 1 (issue 11): a Mac on a blueprint with FileVault escrow gets
// the escrow profile, signed; it answers SecurityInfo with its recovery key
// encrypted to the certificate in that profile; Device.filevaultPrk reveals
// it (audited) and the key is in clear in no command row.
func TestFileVaultKeyEscrowedFromSecurityInfo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newProfileAPI(t)
	tok := api.token("mdm.*")
	d, bpID := api.enrollOnBlueprint(t, tok, "Encrypted Macs")
	d.FileVaultPRK = devicesim.NewRecoveryKey()
	id := *deviceIDOf(t, api.testAPI, d.UDID)

	api.query(tok, `mutation($b: ID!) { updateBlueprint(id: $b, input: {fileVault: ESCROW}) { fileVault } }`,
		map[string]any{"b": bpID}).decode(t, &struct{}{})
	waitCommands(t, api.testAPI, d.UDID, "InstallProfile", 1)
	if _, err := d.Connect(ctx); err != nil || d.EscrowCertificate() == nil {
		t.Fatalf("escrow profile not installed (%v): %v", err, d.Profiles())
	}
	if p := d.Profiles()["com.orchardmdm.filevault.escrow"]; p == nil || p.Signer == nil {
		t.Fatalf("escrow profile unsigned or missing: %+v", p)
	}
	if st := readFileVault(t, api, tok, id); st.Device.FilevaultPrkEscrowed || st.Device.FilevaultPrk != nil {
		t.Fatalf("escrowed before any SecurityInfo: %+v", st)
	}

	api.query(tok, `mutation($id: ID!) { enqueueDeviceCommand(deviceId: $id, requestType: "SecurityInfo") { uuid } }`,
		map[string]any{"id": fmt.Sprint(id)}).decode(t, &struct{}{})
	if _, err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	st := readFileVault(t, api, tok, id)
	if !st.Device.FilevaultPrkEscrowed || st.Device.FilevaultPrk == nil || *st.Device.FilevaultPrk != d.FileVaultPRK {
		t.Fatalf("after SecurityInfo: %+v, device key %q", st, d.FileVaultPRK)
	}
	var reveals int
	must(t, api.store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'device.reveal_secret'
		AND data->>'secret' = 'filevault_prk_sealed'`).Scan(&reveals))
	if reveals != 1 {
		t.Fatalf("%d reveals audited, want 1", reveals)
	}
	checkKeyNotInCommands(t, api, d.FileVaultPRK)
}

func checkKeyNotInCommands(t *testing.T, api *profileAPI, keys ...string) {
	t.Helper()
	for _, k := range keys {
		var clear int
		must(t, api.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM mdm_device_commands
			WHERE position($1::bytea IN command) > 0 OR COALESCE(result::text, '') LIKE '%'||$2||'%'`,
			[]byte(k), k).Scan(&clear))
		if clear != 0 {
			t.Fatalf("%d command rows hold a FileVault key in clear", clear)
		}
	}
}

// Rotation keeps the escrowed key until the new one decrypts: a refused
// rotation and an answer that does not decrypt leave it, recorded as the
// device's secret error; a good answer replaces it.
func TestFileVaultRotationKeepsOldKeyUntilNewDecrypts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := newProfileAPI(t)
	tok := api.token("mdm.*")
	d, bpID := api.enrollOnBlueprint(t, tok, "Rotated Macs")
	d.FileVaultPRK = devicesim.NewRecoveryKey()
	id := *deviceIDOf(t, api.testAPI, d.UDID)
	rotate := `mutation($id: ID!) { rotateFileVaultKey(deviceId: $id) { uuid } }`
	if res := api.query(tok, rotate, map[string]any{"id": fmt.Sprint(id)}); len(res.Errors) == 0 {
		t.Fatal("rotation without an escrowed key was accepted")
	}
	api.query(tok, `mutation($b: ID!) { updateBlueprint(id: $b, input: {fileVault: ESCROW}) { id } }`,
		map[string]any{"b": bpID}).decode(t, &struct{}{})
	api.query(tok, `mutation($id: ID!) { enqueueDeviceCommand(deviceId: $id, requestType: "SecurityInfo") { uuid } }`,
		map[string]any{"id": fmt.Sprint(id)}).decode(t, &struct{}{})
	if _, err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	first := d.FileVaultPRK

	for _, bad := range []func(*devicesim.Command) (string, map[string]any){
		func(*devicesim.Command) (string, map[string]any) { return "Error", map[string]any{} },
		func(*devicesim.Command) (string, map[string]any) {
			return "Acknowledged", map[string]any{"RotateResult": map[string]any{"EncryptedNewRecoveryKey": []byte("not CMS")}}
		},
	} {
		api.query(tok, rotate, map[string]any{"id": fmt.Sprint(id)}).decode(t, &struct{}{})
		d.Answer = bad
		_, err := d.Connect(ctx)
		d.Answer = nil
		must(t, err)
		if st := readFileVault(t, api, tok, id); st.Device.FilevaultPrk == nil || *st.Device.FilevaultPrk != first {
			t.Fatalf("a failed rotation changed the escrowed key: %+v", st)
		}
		if secretError(t, api, id) == "" {
			t.Fatal("a failed rotation recorded no secret error")
		}
	}

	api.query(tok, rotate, map[string]any{"id": fmt.Sprint(id)}).decode(t, &struct{}{})
	if _, err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	st := readFileVault(t, api, tok, id)
	if d.FileVaultPRK == first || st.Device.FilevaultPrk == nil || *st.Device.FilevaultPrk != d.FileVaultPRK {
		t.Fatalf("after rotation: %+v, device key %q (was %q)", st, d.FileVaultPRK, first)
	}
	if why := secretError(t, api, id); why != "" {
		t.Fatalf("secret error left after a good rotation: %q", why)
	}
	checkKeyNotInCommands(t, api, first, d.FileVaultPRK)
}
