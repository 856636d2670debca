package endpoint_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/endpoint"
	"github.com/orchardmdm/orchard/mdmproto/scep"
	"github.com/orchardmdm/orchard/store"
)

// appleLike is a stand-in for the Apple device CA signer of machine info:
// orchard checks the signature, not Apple's chain.
func appleLike(t *testing.T) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Apple iPhone Device CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func TestDEPEnrollmentTakesSignedMachineInfoAndMarksTheDevice(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	bp, err := ts.store.CreateBlueprint(ctx, "Kiosks")
	if err != nil {
		t.Fatal(err)
	}
	dep, err := ts.store.CreateEnrollment(ctx, store.NewEnrollment{Name: "DEP", BlueprintID: &bp.ID, DEP: true})
	if err != nil {
		t.Fatal(err)
	}
	d := ts.device()
	info, _ := plist.Marshal(endpoint.MachineInfo{UDID: d.UDID, SERIAL: d.SerialNumber, PRODUCT: "iPad13,1", VERSION: "21E236"})
	cert, key := appleLike(t)
	signed, err := mdmproto.SignAttached(info, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ts.srv.Client().Post(ts.srv.URL+"/enroll/"+dep.Secret, "application/pkcs7-signature", strings.NewReader(string(signed)))
	if err != nil {
		t.Fatal(err)
	}
	profile, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != mdmproto.ProfileContentType {
		t.Fatalf("POST machine info: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	content, _, err := mdmproto.OpenSigned(profile)
	if err != nil {
		t.Fatal(err)
	}
	if d.Profile, err = mdmproto.ParseEnrollmentProfile(content); err != nil {
		t.Fatal(err)
	}
	if err := d.RequestIdentity(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*mdmproto.CheckinMessage{d.AuthenticateMessage(), d.TokenUpdateMessage()} {
		if _, err := d.Checkin(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	row := ts.deviceRow(d.UDID)
	if !row.DEPEnrollment || row.BlueprintID == nil || *row.BlueprintID != bp.ID {
		t.Fatalf("DEP device: %+v", row)
	}

	// Tampered machine info is refused; an unknown secret is not found.
	checkDEPEnrollmentRefusals(t, ctx, ts, dep, signed, d.UDID)
}

// checkDEPEnrollmentRefusals checks tampered machine info is refused, unknown and deleted secrets are not found, and deleting keeps the device DEP.
func checkDEPEnrollmentRefusals(t *testing.T, ctx context.Context, ts *testServer, dep store.Enrollment, signed []byte, udid string) {
	t.Helper()
	signed[len(signed)-5] ^= 0xff
	res, _ := ts.srv.Client().Post(ts.srv.URL+"/enroll/"+dep.Secret, "application/pkcs7-signature", strings.NewReader(string(signed)))
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("tampered machine info: HTTP %d, want 400", res.StatusCode)
	}
	res, _ = ts.srv.Client().Get(ts.srv.URL + "/enroll/not-a-secret")
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown secret: HTTP %d, want 404", res.StatusCode)
	}
	if _, _, err := ts.store.DeleteEnrollment(ctx, dep.ID); err != nil {
		t.Fatal(err)
	}
	res, _ = ts.srv.Client().Get(ts.srv.URL + "/enroll/" + dep.Secret)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("deleted enrollment: HTTP %d, want 404", res.StatusCode)
	}
	if !ts.deviceRow(udid).DEPEnrollment {
		t.Error("deleting the enrollment changed its devices")
	}
}

func TestMTLSProxyModeAndPushTopic(t *testing.T) {
	t.Parallel()
	ts := newServer(t, func(c *endpoint.Config) {
		c.MTLSProxy = true
		c.PushTopic = func(context.Context) (string, error) { return "com.apple.mgmt.External.real", nil }
	})
	ctx := context.Background()
	d := ts.device()
	d.MTLS = true
	if err := d.Enroll(ctx, ts.enrollURL); err != nil {
		t.Fatal(err)
	}
	if d.Profile.SignMessage || d.Profile.Topic != "com.apple.mgmt.External.real" || strings.Contains(d.Profile.Description, "placeholder") {
		t.Fatalf("profile in mTLS mode with a push certificate: %+v", d.Profile)
	}
	if _, err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	// Without the proxy's header, with a subject the proxy did not see, or
	// with a signature instead, nothing gets in.
	before := ts.snapshot()
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.Cert.Raw})
	body, _ := plist.Marshal(map[string]any{"UDID": d.UDID, "Status": "Idle"})
	for name, h := range map[string]map[string]string{
		"no certificate": {mdmproto.ClientDNHeader: "CN=x"},
		"other subject":  {mdmproto.ClientCertHeader: url.QueryEscape(string(pemCert)), mdmproto.ClientDNHeader: "CN=someone else"},
		"not PEM":        {mdmproto.ClientCertHeader: "garbage"},
	} {
		if got := ts.raw(http.MethodPut, "/mdm/connect", "application/x-apple-aspen-mdm", body, h); got != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", name, got)
		}
	}
	d.MTLS = false
	_, err := d.Connect(ctx)
	if got := status(t, err); got != http.StatusBadRequest {
		t.Fatalf("signed request in mTLS mode: HTTP %d, want 400", got)
	}
	if ts.snapshot() != before {
		t.Fatal("refused request changed the database")
	}
}

func TestExternalSCEPCA(t *testing.T) {
	t.Parallel()
	bundle, err := scep.GenerateCA("external CA")
	if err != nil {
		t.Fatal(err)
	}
	ext, _ := scep.ParseCA(bundle)
	ts := newServer(t, func(c *endpoint.Config) {
		c.CA, c.ExternalSCEPURL, c.ExternalSCEPChallenge = nil, "https://scep.example.com/scep", "static-challenge"
		c.TrustedCAs = []*x509.Certificate{ext.Cert}
	})
	ctx := context.Background()
	d := ts.device()
	if err := d.FetchProfile(ctx, ts.enrollURL); err != nil {
		t.Fatal(err)
	}
	if d.Profile.SCEPURL != "https://scep.example.com/scep" || d.Profile.SCEPChallenge != "static-challenge" {
		t.Fatalf("profile with an external SCEP server: %+v", d.Profile)
	}
	if res, _ := ts.srv.Client().Get(ts.srv.URL + "/scep?operation=GetCACert"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("/scep served without an embedded CA: %d", res.StatusCode)
	}
	// The external CA issued the identity; orchard only verifies it.
	d.Cert = certFor(t, ext, d, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	for _, m := range []*mdmproto.CheckinMessage{d.AuthenticateMessage(), d.TokenUpdateMessage()} {
		if _, err := d.Checkin(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	// An identity from the (unconfigured) embedded CA is refused.
	other := ts.device()
	other.Profile = d.Profile
	other.Cert = certFor(t, ts.ca, other, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	_, err = other.Checkin(ctx, other.AuthenticateMessage())
	if got := status(t, err); got != http.StatusForbidden {
		t.Fatalf("identity from an untrusted CA: HTTP %d, want 403", got)
	}
}

// TestDEPMachineInfoWithHostileIDsIsRefused: machine info is posted by
// whoever holds the URL; a UDID or serial number not in Apple's format is
// refused before it reaches the log.
func TestDEPMachineInfoWithHostileIDsIsRefused(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	for _, info := range []endpoint.MachineInfo{
		{UDID: strings.Repeat("A", 200<<10)},
		{UDID: "../../etc/passwd"},
		{UDID: mdmproto.NewUUID(), SERIAL: "<script>x</script>"},
	} {
		body, _ := plist.Marshal(info)
		if got := ts.raw(http.MethodPost, "/enroll/"+ts.enr.Secret, "application/x-apple-aspen-config", body, nil); got != http.StatusBadRequest {
			t.Errorf("machine info %.40q/%.40q: HTTP %d, want 400", info.UDID, info.SERIAL, got)
		}
	}
}
