package endpoint

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/orchardmdm/orchard/mdmproto"
)

// maxMachineInfo bounds the machine info a DEP device POSTs (a few KiB signed).
const maxMachineInfo = 256 << 10

// MachineInfo is what a device in Setup Assistant POSTs to a DEP profile URL.
type MachineInfo struct {
	UDID     string
	SERIAL   string
	PRODUCT  string
	VERSION  string
	IMEI     string
	MEID     string
	LANGUAGE string
}

// serveEnroll serves an enrollment's profile: GET for OTA enrollment, POST
// for DEP devices, which send their CMS-signed machine info first.
func (e *Endpoint) serveEnroll(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ctx := r.Context()
	id, name, err := e.devices.EnrollmentBySecret(ctx, r.PathValue("secret"))
	if errors.Is(err, mdmproto.ErrUnknownEnrollment) {
		// The secret is the credential: never log it.
		e.log.WarnContext(ctx, "enrollment profile asked with an unknown secret", "remote", r.RemoteAddr)
		http.NotFound(w, r)
		return
	}
	if errors.Is(err, mdmproto.ErrEnrollmentClosed) {
		e.log.WarnContext(ctx, "enrollment profile asked after its enrollment closed", "enrollment_id", id, "remote", r.RemoteAddr)
		http.Error(w, "this enrollment has expired or is used up", http.StatusGone)
		return
	}
	if err != nil {
		e.fail(w, r, attrEnroll, err)
		return
	}
	if r.Method == http.MethodPost {
		info, err := readMachineInfo(w, r)
		if err != nil {
			e.fail(w, r, attrEnroll, err)
			return
		}
		e.log.InfoContext(ctx, "device asked for its enrollment profile", "enrollment_id", id,
			"udid", info.UDID, "serial_number", info.SERIAL, "product", mdmproto.Quote(info.PRODUCT),
			"os_version", mdmproto.Quote(info.VERSION))
	}
	profile, err := e.Profile(ctx, id, name)
	if err != nil {
		e.fail(w, r, attrEnroll, err)
		return
	}
	w.Header().Set("Content-Type", mdmproto.ProfileContentType)
	w.Header().Set("Content-Disposition", `attachment; filename="orchard-enrollment-`+strconv.FormatInt(id, 10)+`.mobileconfig"`)
	_, _ = w.Write(profile)
}

var attrEnroll = slogKind("enroll")

// readMachineInfo reads a POSTed machine info: CMS-signed (its signature is
// checked, but not Apple's chain) or a bare plist. An empty body is allowed.
func readMachineInfo(w http.ResponseWriter, r *http.Request) (MachineInfo, error) {
	var info MachineInfo
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMachineInfo))
	if err != nil {
		return info, readRefusal(err, maxMachineInfo)
	}
	if len(body) == 0 {
		return info, nil
	}
	if body[0] == 0x30 { // an ASN.1 SEQUENCE: CMS
		content, _, err := mdmproto.OpenSigned(body)
		if err != nil {
			return info, refuse(http.StatusBadRequest, "machine info: %w", err)
		}
		body = content
	}
	if err := mdmproto.UnmarshalPlist(body, &info); err != nil {
		return info, refuse(http.StatusBadRequest, "machine info is not a plist: %w", err)
	}
	// Logged below: anyone holding the URL may send anything here.
	if err := mdmproto.CheckDeviceIDs(info.UDID, info.SERIAL); err != nil {
		return info, refuse(http.StatusBadRequest, "machine info: %w", err)
	}
	return info, nil
}

// Profile builds the signed enrollment profile of enrollment id (named
// name), with a fresh single-use SCEP challenge.
func (e *Endpoint) Profile(ctx context.Context, id int64, name string) ([]byte, error) {
	return e.profiles.Build(ctx, id, name, func(ctx context.Context) (string, error) {
		return e.devices.NewSCEPChallenge(ctx, id, challengeTTL)
	})
}
