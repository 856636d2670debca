// Package devicesim simulates an Apple device for tests and load runs: it
// fetches an enrollment profile, gets its identity over SCEP, signs its
// requests with Mdm-Signature, checks in and answers commands.
package devicesim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/ddm"
	"github.com/orchardmdm/orchard/mdmproto/scep"
)

// Device is one simulated device.
type Device struct {
	UDID         string
	SerialNumber string
	DeviceName   string
	Model        string
	ProductName  string
	OSVersion    string
	BuildVersion string
	// SoftwareUpdateDeviceID is what Apple's software update catalog lists
	// the device under: a Mac's board id.
	SoftwareUpdateDeviceID string

	Key     *rsa.PrivateKey
	Cert    *x509.Certificate
	Profile *mdmproto.ProfileConfig
	Client  *http.Client

	PushToken []byte
	PushMagic string
	// MTLS sends the certificate as a TLS-terminating proxy would pass it
	// on, instead of signing: for servers configured behind such a proxy.
	MTLS bool

	// Answer decides how to answer a command; nil answers every command
	// Acknowledged, with plausible DeviceInformation and SecurityInfo results.
	Answer func(cmd *Command) (status string, fields map[string]any)

	// FileVaultPRK is the Mac's FileVault personal recovery key ("": FileVault
	// off). With an escrow profile installed, SecurityInfo answers carry it
	// encrypted to the profile's certificate; RotateFileVaultKey replaces it.
	FileVaultPRK string

	// profiles are the configuration profiles installed (profiles.go).
	profiles map[string]*InstalledProfile
	// SyncRequests are the tokens of the DeclarativeManagement commands received.
	SyncRequests []ddm.SyncTokens
}

// Command is a command the server sent.
type Command struct {
	UUID        string
	RequestType string
	Fields      map[string]any
	Raw         []byte
}

// HTTPError is a non-200 answer.
type HTTPError struct {
	Status int
	Body   string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// New returns a Mac with a random UDID and serial number and a fresh 2048-bit key.
func New(client *http.Client) (*Device, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	id := mdmproto.NewUUID()
	return &Device{
		UDID: id, SerialNumber: "SIM" + strings.ReplaceAll(id, "-", "")[:9], DeviceName: "Simulated Mac",
		Model: "Mac14,3", ProductName: "Mac14,3", OSVersion: "14.4", BuildVersion: "23E214", SoftwareUpdateDeviceID: "J473AP",
		Key: key, Client: client, PushToken: []byte(id), PushMagic: "magic-" + id,
	}, nil
}

// Enroll does what installing the profile at profileURL does: fetch it,
// get an identity over SCEP, Authenticate and TokenUpdate.
func (d *Device) Enroll(ctx context.Context, profileURL string) error {
	if err := d.FetchProfile(ctx, profileURL); err != nil {
		return err
	}
	if err := d.RequestIdentity(ctx); err != nil {
		return err
	}
	if _, err := d.Checkin(ctx, d.AuthenticateMessage()); err != nil {
		return fmt.Errorf("authenticate: %w", err)
	}
	if _, err := d.Checkin(ctx, d.TokenUpdateMessage()); err != nil {
		return fmt.Errorf("token update: %w", err)
	}
	return nil
}

// FetchProfile downloads and reads a (signed) enrollment profile.
func (d *Device) FetchProfile(ctx context.Context, profileURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, profileURL, nil)
	if err != nil {
		return err
	}
	status, body, err := d.do(req)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("fetch profile: %w", &HTTPError{Status: status, Body: string(body)})
	}
	if len(body) > 0 && body[0] == 0x30 {
		if body, _, err = mdmproto.OpenSigned(body); err != nil {
			return fmt.Errorf("fetch profile: %w", err)
		}
	}
	if d.Profile, err = mdmproto.ParseEnrollmentProfile(body); err != nil {
		return err
	}
	// A profile that asks for no Mdm-Signature is a server behind a
	// TLS-terminating proxy: the device proves its identity in the TLS
	// handshake and the proxy passes the certificate on.
	d.MTLS = d.MTLS || !d.Profile.SignMessage
	return nil
}

// RequestIdentity gets the identity certificate from the profile's SCEP server.
func (d *Device) RequestIdentity(ctx context.Context) error {
	cert, err := scep.Request(ctx, d.Client, d.Profile.SCEPURL, d.Profile.SCEPChallenge, d.Profile.SCEPSubject, d.Key)
	if err != nil {
		return err
	}
	d.Cert = cert
	return nil
}

// AuthenticateMessage is the device's Authenticate check-in.
func (d *Device) AuthenticateMessage() *mdmproto.CheckinMessage {
	return &mdmproto.CheckinMessage{MessageType: mdmproto.Authenticate, Enrollment: mdmproto.Enrollment{UDID: d.UDID},
		Topic: d.topic(), BuildVersion: d.BuildVersion, DeviceName: d.DeviceName, Model: d.Model,
		ModelName: "MacBook Pro", OSVersion: d.OSVersion, ProductName: d.ProductName, SerialNumber: d.SerialNumber}
}

// TokenUpdateMessage is the device's TokenUpdate check-in.
func (d *Device) TokenUpdateMessage() *mdmproto.CheckinMessage {
	return &mdmproto.CheckinMessage{MessageType: mdmproto.TokenUpdate, Enrollment: mdmproto.Enrollment{UDID: d.UDID},
		Topic: d.topic(), Token: d.PushToken, PushMagic: d.PushMagic, UnlockToken: []byte("unlock-" + d.UDID)}
}

func (d *Device) topic() string {
	if d.Profile == nil {
		return ""
	}
	return d.Profile.Topic
}

// Checkin sends a check-in message and returns the answer's body.
func (d *Device) Checkin(ctx context.Context, msg any) ([]byte, error) {
	body, err := plist.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return d.Send(ctx, d.Profile.CheckInURL, mdmproto.CheckinContentType, body)
}

// Send PUTs a signed body, as devices do, and returns the 200 answer's body.
func (d *Device) Send(ctx context.Context, url, contentType string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if err := d.identify(req, body); err != nil {
		return nil, err
	}
	status, out, err := d.do(req)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &HTTPError{Status: status, Body: strings.TrimSpace(string(out))}
	}
	return out, nil
}

func (d *Device) do(req *http.Request) (int, []byte, error) {
	res, err := d.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	return res.StatusCode, out, err
}

func (d *Device) identify(req *http.Request, body []byte) error {
	if d.MTLS {
		block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.Cert.Raw})
		req.Header.Set(mdmproto.ClientCertHeader, url.QueryEscape(string(block)))
		req.Header.Set(mdmproto.ClientDNHeader, d.Cert.Subject.String())
		return nil
	}
	sig, err := mdmproto.Sign(body, d.Cert, d.Key)
	if err != nil {
		return err
	}
	req.Header.Set(mdmproto.SignatureHeader, sig)
	return nil
}
