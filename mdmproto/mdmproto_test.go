package mdmproto_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
)

func selfSigned(t *testing.T, notAfter time.Time) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dev"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func TestSignatureDetachedAttachedAndTampered(t *testing.T) {
	cert, key := selfSigned(t, time.Now().Add(time.Hour))
	body := []byte("<plist><dict/></plist>")
	sig, err := mdmproto.Sign(body, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := mdmproto.VerifySignature(sig, body); err != nil || !got.Equal(cert) {
		t.Fatalf("detached: %v", err)
	}
	if _, err := mdmproto.VerifySignature(sig, []byte("<plist><dict></dict></plist>")); !errors.Is(err, mdmproto.ErrIdentity) {
		t.Fatalf("tampered body accepted: %v", err)
	}
	attached, err := mdmproto.SignAttached(body, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	header := base64.StdEncoding.EncodeToString(attached)
	if _, err := mdmproto.VerifySignature(header, body); err != nil {
		t.Fatalf("attached: %v", err)
	}
	if _, err := mdmproto.VerifySignature(header, []byte("other")); err == nil {
		t.Fatal("attached signature over other content accepted")
	}
	if content, signer, err := mdmproto.OpenSigned(attached); err != nil || string(content) != string(body) || !signer.Equal(cert) {
		t.Fatalf("OpenSigned: %q %v", content, err)
	}
}

func TestVerifierChainsToTheCAAndChecksValidity(t *testing.T) {
	ca, _ := selfSigned(t, time.Now().Add(time.Hour))
	other, _ := selfSigned(t, time.Now().Add(time.Hour))
	v, err := mdmproto.NewVerifier([]*x509.Certificate{ca})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(ca); err != nil {
		t.Fatalf("CA itself: %v", err)
	}
	if err := v.Verify(other); !errors.Is(err, mdmproto.ErrUntrusted) {
		t.Fatalf("other CA: %v", err)
	}
	expired, _ := selfSigned(t, time.Now().Add(-time.Hour))
	v2, _ := mdmproto.NewVerifier([]*x509.Certificate{expired})
	if err := v2.Verify(expired); !errors.Is(err, mdmproto.ErrUntrusted) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := mdmproto.NewVerifier(nil); err == nil {
		t.Fatal("a verifier without CA")
	}
}

func TestProfileRoundTrip(t *testing.T) {
	data, err := mdmproto.BuildEnrollmentProfile(mdmproto.ProfileConfig{
		Identifier: "com.example.enroll", DisplayName: "x", SCEPURL: "https://mdm/scep", SCEPChallenge: "c",
		SCEPSubject: "dev", Topic: "com.apple.mgmt.External.1", ServerURL: "https://mdm/connect",
		CheckInURL: "https://mdm/checkin", SignMessage: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<key>AccessRights</key>\n\t\t\t<integer>8191</integer>", "com.apple.mdm.per-user-connections",
		"<key>CheckOutWhenRemoved</key>\n\t\t\t<true/>", "<key>Keysize</key>\n\t\t\t\t<integer>2048</integer>"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("profile lacks %q:\n%s", want, data)
		}
	}
	p, err := mdmproto.ParseEnrollmentProfile(data)
	if err != nil {
		t.Fatal(err)
	}
	if p.SCEPURL != "https://mdm/scep" || p.SCEPChallenge != "c" || p.SCEPSubject != "dev" || p.KeySize != 2048 ||
		p.Topic != "com.apple.mgmt.External.1" || p.ServerURL != "https://mdm/connect" || !p.SignMessage {
		t.Fatalf("parsed %+v", p)
	}
	var raw map[string]any
	_ = plist.Unmarshal(data, &raw)
	content := raw["PayloadContent"].([]any)
	scepUUID := content[0].(map[string]any)["PayloadUUID"]
	if content[1].(map[string]any)["IdentityCertificateUUID"] != scepUUID {
		t.Fatal("IdentityCertificateUUID does not name the SCEP payload")
	}
}

func TestNewCommandValidatesAndKeepsIntegers(t *testing.T) {
	if _, _, err := mdmproto.NewCommand("MakeCoffee", nil); err == nil {
		t.Fatal("unknown request type accepted")
	}
	if _, _, err := mdmproto.NewCommand("DeviceLock", map[string]any{"RequestType": "EraseDevice"}); err == nil {
		t.Fatal("payload overriding RequestType accepted")
	}
	uuid, body, err := mdmproto.NewCommand("DeviceLock", map[string]any{"PIN": "123456", "Delay": float64(30), "Ratio": 1.5})
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		CommandUUID string
		Command     map[string]any
	}
	if err := plist.Unmarshal(body, &c); err != nil || c.CommandUUID != uuid {
		t.Fatalf("%s: %v", body, err)
	}
	if c.Command["RequestType"] != "DeviceLock" || !strings.Contains(string(body), "<integer>30</integer>") ||
		!strings.Contains(string(body), "<real>1.5</real>") {
		t.Fatalf("command plist:\n%s", body)
	}
}

func TestDecodingRefusesWhatDevicesNeverSend(t *testing.T) {
	deep := strings.Repeat("<array>", mdmproto.MaxPlistDepth+1) + strings.Repeat("</array>", mdmproto.MaxPlistDepth+1)
	for name, body := range map[string]string{
		"binary":         "bplist00\xd1\x01\x02VStatusTIdle",
		"deep nesting":   "<plist>" + deep + "</plist>",
		"no MessageType": `<plist><dict><key>UDID</key><string>U</string></dict></plist>`,
		"no device":      `<plist><dict><key>MessageType</key><string>Authenticate</string></dict></plist>`,
	} {
		if _, err := mdmproto.DecodeCheckin([]byte(body)); !errors.Is(err, mdmproto.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	m, err := mdmproto.DecodeCheckin([]byte(`<plist><dict><key>MessageType</key><string>TokenUpdate</string>
		<key>UDID</key><string>00008020-001234567890002E</string><key>UserID</key><string>FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF</string></dict></plist>`))
	if err != nil || m.ChannelID() != "00008020-001234567890002E:FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF" {
		t.Fatalf("user channel: %+v %v", m, err)
	}
	for product, want := range map[string]string{"iPhone15,2": "iOS", "iPad13,1": "iPadOS", "Mac14,3": "macOS",
		"AppleTV11,1": "tvOS", "RealityDevice14,1": "visionOS"} {
		if got := mdmproto.PlatformOf(product, ""); got != want {
			t.Errorf("PlatformOf(%s) = %s", product, got)
		}
	}
}

// Proxies escape the PEM differently: nginx escapes "+", others leave it as
// is (it is safe in a header). Both must read back the same certificate.
func TestProxyHeaderKeepsPlusSigns(t *testing.T) {
	var cert *x509.Certificate
	var text string
	for !strings.Contains(text, "+") { // nearly every certificate has one
		cert, _ = selfSigned(t, time.Now().Add(time.Hour))
		text = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	}
	for name, header := range map[string]string{
		"all escaped":  url.QueryEscape(text),
		"plus kept":    strings.ReplaceAll(text, "\n", "%0A"),
		"path escaped": url.PathEscape(text),
	} {
		got, err := mdmproto.CertFromProxyHeader(header, "")
		if err != nil || !got.Equal(cert) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
