package endpoint

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/ddm"
)

// declarativeManagement answers a DeclarativeManagement check-in. A device
// asking for what it was not given gets 404, a request or status report that
// does not parse 400; neither changes anything nor locks the device out.
func (e *Endpoint) declarativeManagement(ctx context.Context, ch mdmproto.Channel, endpoint string, data []byte) ([]byte, error) {
	reply, err := e.devices.DeclarativeManagement(ctx, ch, endpoint, data)
	return reply, ddmRefusal(err)
}

func ddmRefusal(err error) error {
	switch {
	case errors.Is(err, ddm.ErrUnknownDeclaration):
		return &refusal{status: http.StatusNotFound, reason: err}
	case errors.Is(err, ddm.ErrMalformed):
		return &refusal{status: http.StatusBadRequest, reason: err}
	}
	return storeRefusal(err)
}

// replyType is a check-in reply's media type: declarative management
// answers JSON, everything else plists.
func replyType(reply []byte) string {
	if bytes.HasPrefix(reply, []byte("{")) {
		return "application/json"
	}
	return "application/xml"
}

// serveProfileAsset serves a profile a legacy-profile declaration names, to
// the device whose identity (Mdm-Signature over the empty body, or the mTLS
// proxy's header) is bound to a device whose blueprint lists it.
func (e *Endpoint) serveProfileAsset(w http.ResponseWriter, r *http.Request) {
	attr := slogKind("profile-asset")
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		e.fail(w, r, attr, refuse(http.StatusNotFound, "bad profile id"))
		return
	}
	identity, sig, err := e.identify(r)
	if err == nil && sig != nil {
		err = signatureRefusal(sig.Verify(nil))
	}
	if err != nil {
		e.fail(w, r, attr, err)
		return
	}
	profile, err := e.devices.ProfileAsset(r.Context(), identity.CertHash, id)
	if err != nil {
		e.fail(w, r, attr, ddmRefusal(err))
		return
	}
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	_, _ = w.Write(profile)
}
