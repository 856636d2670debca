package endpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
)

// refusal is an HTTP answer with the reason logged (not sent: devices
// ignore bodies, and reasons may help an attacker).
type refusal struct {
	status int
	reason error
}

func (r *refusal) Error() string { return r.reason.Error() }

func refuse(status int, format string, args ...any) error {
	return &refusal{status: status, reason: fmt.Errorf(format, args...)}
}

// serveMDM is the check-in and command channel: size limit -> identity from
// the headers -> body (bounded in size, time and concurrent bytes) ->
// signature over the body -> decode -> handler. Check-ins and reports share
// it, told apart by Content-Type. Nothing is read from a client that has not
// shown a trusted certificate.
func (e *Endpoint) serveMDM(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		w.Header().Set("Allow", "PUT, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	checkin := mt == mdmproto.CheckinContentType
	limit, attr := e.cfg.MaxReportBytes, slogKind("report")
	if checkin {
		limit, attr = e.cfg.MaxCheckinBytes, slogKind("checkin")
	}
	if r.ContentLength > limit {
		e.fail(w, r, attr, refuse(http.StatusRequestEntityTooLarge, "body of %d bytes, over %d", r.ContentLength, limit))
		return
	}
	id, sig, err := e.identify(r)
	if err != nil {
		e.fail(w, r, attr, err)
		return
	}
	body, release, err := e.readBody(w, r, limit)
	defer release()
	if err == nil && sig != nil {
		err = signatureRefusal(sig.Verify(body))
	}
	if err != nil {
		e.fail(w, r, attr, err)
		return
	}
	var reply []byte
	if checkin {
		reply, err = e.checkin(r.Context(), id, body)
	} else {
		reply, err = e.report(r.Context(), id, body)
	}
	if err != nil {
		e.fail(w, r, attr, err)
		return
	}
	if len(reply) > 0 {
		w.Header().Set("Content-Type", replyType(reply))
	}
	_, _ = w.Write(reply)
}

// identify returns the identity the request proves from its headers alone,
// its certificate chained to the trusted CAs. With Mdm-Signature it also
// returns the signature, which the caller checks over the body once read.
func (e *Endpoint) identify(r *http.Request) (mdmproto.Identity, *mdmproto.Signature, error) {
	if e.cfg.MTLSProxy {
		id, err := e.verifier.ProxyIdentity(r.Header.Get(mdmproto.ClientCertHeader), r.Header.Get(mdmproto.ClientDNHeader))
		return id, nil, signatureRefusal(err)
	}
	sig, err := mdmproto.ParseSignature(r.Header.Get(mdmproto.SignatureHeader))
	if err == nil {
		err = e.verifier.Verify(sig.Signer)
	}
	if err != nil {
		return mdmproto.Identity{}, nil, signatureRefusal(err)
	}
	return mdmproto.IdentityOf(sig.Signer), sig, nil
}

// signatureRefusal maps an identity error: 403 for a certificate not
// trusted now, 400 for anything malformed. Never 401: that tells a device
// to drop management.
func signatureRefusal(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mdmproto.ErrUntrusted):
		return &refusal{status: http.StatusForbidden, reason: err}
	}
	return &refusal{status: http.StatusBadRequest, reason: err}
}

// channel binds a message's enrollment to the certificate that proved it.
func channel(en mdmproto.Enrollment, id mdmproto.Identity) mdmproto.Channel {
	return mdmproto.Channel{Enrollment: en, CertHash: id.CertHash, CertNotAfter: id.NotAfter}
}

func (e *Endpoint) checkin(ctx context.Context, id mdmproto.Identity, body []byte) ([]byte, error) {
	m, err := mdmproto.DecodeCheckin(body)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "%w", err)
	}
	ch := channel(m.Enrollment, id)
	e.log.DebugContext(ctx, "mdm check-in", "message_type", m.MessageType, "enrollment", ch.ChannelID())
	switch m.MessageType {
	case mdmproto.Authenticate:
		if _, user := ch.UserChannel(); user {
			return nil, refuse(http.StatusBadRequest, "Authenticate from a user channel")
		}
		err = e.devices.Authenticate(ctx, ch, m.Facts())
		if err == nil {
			e.log.InfoContext(ctx, "device authenticated", "udid", ch.DeviceID(), "serial_number", m.SerialNumber)
		}
	case mdmproto.TokenUpdate:
		err = e.devices.TokenUpdate(ctx, ch, mdmproto.TokenUpdateInfo{Token: m.Token, PushMagic: m.PushMagic, Topic: m.Topic,
			UnlockToken: m.UnlockToken, AwaitingConfiguration: m.AwaitingConfiguration})
	case mdmproto.CheckOut:
		err = e.devices.CheckOut(ctx, ch)
	case mdmproto.SetBootstrapToken:
		err = e.devices.SetBootstrapToken(ctx, ch, m.BootstrapToken)
	case mdmproto.GetBootstrapToken:
		return e.getBootstrapToken(ctx, ch)
	case mdmproto.UserAuthenticate:
		// Apple allows refusing the user channel's digest challenge with 410:
		// the user channel then enrolls without it.
		if err := e.devices.TouchDevice(ctx, ch); err != nil {
			return nil, storeRefusal(err)
		}
		return nil, refuse(http.StatusGone, "UserAuthenticate: orchard does not run the digest challenge")
	case mdmproto.DeclarativeManagement:
		return e.declarativeManagement(ctx, ch, m.Endpoint, m.Data)
	case mdmproto.GetToken:
		return nil, refuse(http.StatusBadRequest, "GetToken: no token service %s is configured", mdmproto.Quote(m.TokenServiceType))
	default:
		return nil, refuse(http.StatusBadRequest, "unknown MessageType %s", mdmproto.Quote(m.MessageType))
	}
	return nil, storeRefusal(err)
}

func (e *Endpoint) getBootstrapToken(ctx context.Context, ch mdmproto.Channel) ([]byte, error) {
	token, err := e.devices.BootstrapToken(ctx, ch)
	if err != nil {
		return nil, storeRefusal(err)
	}
	var out struct {
		BootstrapToken []byte `plist:",omitempty"`
	}
	out.BootstrapToken = token
	return plist.Marshal(out)
}

func (e *Endpoint) report(ctx context.Context, id mdmproto.Identity, body []byte) ([]byte, error) {
	rep, result, err := mdmproto.DecodeReport(body)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "%w", err)
	}
	ch := channel(rep.Enrollment, id)
	if _, user := ch.UserChannel(); user {
		// User channels have no command queue in orchard yet: they are seen, and idle.
		return nil, storeRefusal(e.devices.TouchUser(ctx, ch))
	}
	if rep.Status == mdmproto.StatusIdle {
		next, err := e.devices.Idle(ctx, ch)
		return next.Body, storeRefusal(err)
	}
	next, found, err := e.devices.ReportResult(ctx, ch, mdmproto.CommandResult{Status: rep.Status, CommandUUID: rep.CommandUUID,
		ErrorChain: rep.ErrorChain, Raw: body, JSON: result})
	if err != nil {
		return nil, storeRefusal(err)
	}
	if !found {
		e.log.WarnContext(ctx, "result for a command this device was not given; ignored",
			"udid", ch.DeviceID(), "command_uuid", rep.CommandUUID, "status", rep.Status)
	}
	return next.Body, nil
}

// storeRefusal maps the store's refusals to status codes. 401 tells a device
// to drop management: only blocked devices get it.
func storeRefusal(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mdmproto.ErrDeviceBlocked):
		return &refusal{status: http.StatusUnauthorized, reason: err}
	case errors.Is(err, mdmproto.ErrIdentityMismatch), errors.Is(err, mdmproto.ErrNotEnrolled), errors.Is(err, mdmproto.ErrNoTokenUpdate):
		return &refusal{status: http.StatusForbidden, reason: err}
	}
	return err
}

func (e *Endpoint) fail(w http.ResponseWriter, r *http.Request, attr slog.Attr, err error) {
	var ref *refusal
	if errors.As(err, &ref) {
		e.log.WarnContext(r.Context(), "mdm request refused", attr, slog.Int("status", ref.status),
			slog.String("reason", clip(ref.reason.Error())), slog.String("remote", r.RemoteAddr))
		http.Error(w, http.StatusText(ref.status), ref.status)
		return
	}
	e.log.ErrorContext(r.Context(), "mdm request failed", attr, slog.String("err", clip(err.Error())))
	http.Error(w, "internal error", http.StatusInternalServerError)
}

func slogKind(k string) slog.Attr { return slog.String("kind", k) }

// maxReasonBytes bounds a refusal's reason in the log: decoder errors may
// quote what a device sent.
const maxReasonBytes = 512

func clip(s string) string {
	if len(s) <= maxReasonBytes {
		return s
	}
	return mdmproto.Quote(s[:maxReasonBytes]) + "…"
}
