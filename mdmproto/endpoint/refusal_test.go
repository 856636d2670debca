package endpoint_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/devicesim"
	"github.com/orchardmdm/orchard/mdmproto/scep"
)

const reportType = "application/x-apple-aspen-mdm"

func idleBody(t *testing.T, udid string) []byte {
	t.Helper()
	b, err := plist.Marshal(map[string]any{"UDID": udid, "Status": "Idle"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(t *testing.T, body []byte, cert *x509.Certificate, key crypto.PrivateKey) map[string]string {
	t.Helper()
	sig, err := mdmproto.Sign(body, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{mdmproto.SignatureHeader: sig}
}

// certFor issues a certificate for the device's key from ca, valid in [from, to].
func certFor(t *testing.T, ca *scep.CA, d *devicesim.Device, from, to time.Time) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, d.Key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.IssueValid(csr, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRefusalsChangeNothing sends every kind of request orchard must refuse
// and checks the answer and that the database is exactly as before.
func TestRefusalsChangeNothing(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	a := ts.enrolled()
	b := ts.enrolled()
	for _, tc := range refusalCases(t, ts, a, b) {
		before := ts.snapshot()
		if got := ts.raw(http.MethodPut, "/mdm/connect", tc.ct, tc.body, tc.headers); got != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, got, tc.want)
		}
		if ts.snapshot() != before {
			t.Errorf("%s: the refused request changed the database", tc.name)
		}
	}
	// Both devices still work.
	for _, d := range []*devicesim.Device{a, b} {
		if _, err := d.Connect(ctx); err != nil {
			t.Fatalf("device %s after the refusals: %v", d.UDID, err)
		}
	}
}

// refusalCase is one request the endpoint must refuse with want, changing nothing.
type refusalCase struct {
	name    string
	ct      string
	body    []byte
	headers map[string]string
	want    int
}

// refusalCases builds the refused requests against the enrolled devices a and b: bad signatures, foreign, expired or unbound certificates, bad bodies.
func refusalCases(t *testing.T, ts *testServer, a, b *devicesim.Device) []refusalCase {
	t.Helper()
	idle := idleBody(t, a.UDID)
	checkin := func(m mdmproto.CheckinMessage) []byte {
		body, err := plist.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}

	otherBundle, err := scep.GenerateCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	otherCA, _ := scep.ParseCA(otherBundle)
	foreign := certFor(t, otherCA, a, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	expired := certFor(t, ts.ca, a, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	// A valid certificate of this CA that Authenticate never bound to a.
	unbound := certFor(t, ts.ca, a, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))

	big := append(checkin(*a.TokenUpdateMessage()), bytes.Repeat([]byte(" "), 3<<20)...)
	authA := a.AuthenticateMessage()
	authB := b.AuthenticateMessage()

	newUDID := mdmproto.CheckinMessage{MessageType: "Authenticate", Enrollment: mdmproto.Enrollment{UDID: mdmproto.NewUUID()}}
	return []refusalCase{
		{"unsigned", reportType, idle, nil, http.StatusBadRequest},
		{"signature not base64", reportType, idle, map[string]string{mdmproto.SignatureHeader: "%%%"}, http.StatusBadRequest},
		{"signature over another body", reportType, idle, sign(t, idleBody(t, b.UDID), a.Cert, a.Key), http.StatusBadRequest},
		{"signer from another CA", reportType, idle, sign(t, idle, foreign, a.Key), http.StatusForbidden},
		{"expired certificate", reportType, idle, sign(t, idle, expired, a.Key), http.StatusForbidden},
		{"certificate not bound to the device", reportType, idle, sign(t, idle, unbound, a.Key), http.StatusForbidden},
		{"device's certificate used for another UDID", reportType, idleBody(t, b.UDID), sign(t, idleBody(t, b.UDID), a.Cert, a.Key), http.StatusForbidden},
		{"device's certificate used to authenticate another UDID", mdmproto.CheckinContentType, checkin(*authB),
			sign(t, checkin(*authB), a.Cert, a.Key), http.StatusForbidden},
		{"device's certificate used to authenticate a new UDID", mdmproto.CheckinContentType,
			checkin(newUDID), sign(t, checkin(newUDID), a.Cert, a.Key), http.StatusForbidden},
		{"malformed plist", reportType, []byte("<plist><dict><key>UDID"), sign(t, []byte("<plist><dict><key>UDID"), a.Cert, a.Key), http.StatusBadRequest},
		{"report without status", reportType, checkin(mdmproto.CheckinMessage{Enrollment: mdmproto.Enrollment{UDID: a.UDID}}),
			sign(t, checkin(mdmproto.CheckinMessage{Enrollment: mdmproto.Enrollment{UDID: a.UDID}}), a.Cert, a.Key), http.StatusBadRequest},
		{"unknown MessageType", mdmproto.CheckinContentType, checkin(mdmproto.CheckinMessage{MessageType: "Hello", Enrollment: mdmproto.Enrollment{UDID: a.UDID}}),
			sign(t, checkin(mdmproto.CheckinMessage{MessageType: "Hello", Enrollment: mdmproto.Enrollment{UDID: a.UDID}}), a.Cert, a.Key), http.StatusBadRequest},
		{"oversized check-in", mdmproto.CheckinContentType, big, sign(t, big, a.Cert, a.Key), http.StatusRequestEntityTooLarge},
		{"Authenticate with an unbound certificate of another device's key", mdmproto.CheckinContentType, checkin(*authA),
			sign(t, checkin(*authA), b.Cert, b.Key), http.StatusForbidden},
	}
}

func TestSCEPRefusesWrongUsedAndExpiredChallenges(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	d := ts.device()
	if err := d.FetchProfile(ctx, ts.enrollURL); err != nil {
		t.Fatal(err)
	}
	good := d.Profile.SCEPChallenge
	try := func(challenge string) error {
		_, err := scep.Request(ctx, ts.srv.Client(), d.Profile.SCEPURL, challenge, "device", d.Key)
		return err
	}
	for _, challenge := range []string{"", "made-up", good + "x"} {
		before := ts.snapshot()
		if err := try(challenge); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("challenge %q: %v, want a refusal", challenge, err)
		}
		if ts.snapshot() != before {
			t.Errorf("refused challenge %q changed the database", challenge)
		}
	}
	if err := try(good); err != nil {
		t.Fatalf("the profile's challenge: %v", err)
	}
	before := ts.snapshot()
	if err := try(good); err == nil {
		t.Error("a challenge was used twice")
	}
	if ts.snapshot() != before {
		t.Error("the reused challenge changed the database")
	}
	if err := d.FetchProfile(ctx, ts.enrollURL); err != nil {
		t.Fatal(err)
	}
	ts.exec("UPDATE mdm_scep_challenges SET expires_at = now() - interval '1 second' WHERE challenge_sha256 = sha256(convert_to($1, 'UTF8'))", d.Profile.SCEPChallenge)
	if err := try(d.Profile.SCEPChallenge); err == nil {
		t.Error("an expired challenge was accepted")
	}
	if n, _ := ts.store.CountSCEPCertificates(ctx); n != 1 {
		t.Fatalf("%d certificates issued, want 1", n)
	}
}
