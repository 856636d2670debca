package mdmproto_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
)

func authenticate(fields map[string]any) []byte {
	m := map[string]any{"MessageType": "Authenticate", "UDID": "00008020-001234567890002E"}
	for k, v := range fields {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	body, _ := plist.Marshal(m)
	return body
}

// TestCheckinIdentifiersFollowApplesFormats: what Apple devices send is
// accepted; oversized, path-like, markup and control characters are refused
// with a short error that never carries the whole value.
func TestCheckinIdentifiersFollowApplesFormats(t *testing.T) {
	for name, fields := range map[string]map[string]any{
		"Apple silicon UDID":   {"UDID": "00008103-000A1B2C3D4E001E", "SerialNumber": "C02XL0GHJGH5"},
		"Intel Mac UDID":       {"UDID": "564D1A52-8D3A-5E2B-9C1F-0123456789AB", "SerialNumber": "ZRQ5K4W1M2"},
		"legacy iOS UDID":      {"UDID": "2b6f0cc904d137be2e1730235f5664094b831186"},
		"VMware serial":        {"SerialNumber": "VMQiAGw+3j2y/x"},
		"user enrollment":      {"UDID": nil, "EnrollmentID": "1A2B3C4D5E6F-7A8B", "MessageType": "TokenUpdate"},
		"macOS user channel":   {"MessageType": "TokenUpdate", "UserID": "A1B2C3D4-0000-4000-8000-00000000A1B2", "UserShortName": "ada", "UserLongName": "Ada Lovelace"},
		"Shared iPad user":     {"MessageType": "TokenUpdate", "UserID": "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "UserShortName": "ada@example.org"},
		"device name in UTF-8": {"DeviceName": "Ada’s <MacBook> \"Pro\" 💻", "IMEI": "35 123456 789012 3"},
	} {
		if _, err := mdmproto.DecodeCheckin(authenticate(fields)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	huge := strings.Repeat("A", 1<<20)
	for name, fields := range map[string]map[string]any{
		"1 MiB UDID":             {"UDID": huge},
		"path UDID":              {"UDID": "../../etc/passwd"},
		"HTML UDID":              {"UDID": "<script>alert(1)</script>"},
		"UDID with a newline":    {"UDID": "00008020-001234567890002E\nlevel=ERROR"},
		"UDID of 39 hex digits":  {"UDID": strings.Repeat("a", 39)},
		"path EnrollmentID":      {"UDID": nil, "EnrollmentID": "../x"},
		"UserID not a UUID":      {"UserID": "root"},
		"serial with markup":     {"SerialNumber": "<b>C02</b>"},
		"1 MiB serial":           {"SerialNumber": huge},
		"serial with a space":    {"SerialNumber": "C02 XL0"},
		"1 MiB device name":      {"DeviceName": huge},
		"newline in device name": {"DeviceName": "Mac\nlevel=ERROR msg=forged"},
		"tab in model":           {"Model": "Mac\t14,3"},
		"short name with a path": {"UserID": "A1B2C3D4-0000-4000-8000-00000000A1B2", "UserShortName": "../ada"},
		"1 MiB MessageType":      {"MessageType": huge},
	} {
		_, err := mdmproto.DecodeCheckin(authenticate(fields))
		if !errors.Is(err, mdmproto.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
			continue
		}
		if len(err.Error()) > 200 {
			t.Errorf("%s: a %d-byte error", name, len(err.Error()))
		}
	}
}

func TestReportsRefuseForeignIdentifiers(t *testing.T) {
	for name, m := range map[string]map[string]any{
		"path UDID":          {"UDID": "../../x", "Status": "Idle"},
		"1 MiB CommandUUID":  {"UDID": "00008020-001234567890002E", "Status": "Acknowledged", "CommandUUID": strings.Repeat("c", 1<<20)},
		"newline in Status":  {"UDID": "00008020-001234567890002E", "Status": "Idle\nforged"},
		"UserID not a UUID ": {"UDID": "00008020-001234567890002E", "Status": "Idle", "UserID": "<x>"},
	} {
		body, _ := plist.Marshal(m)
		_, _, err := mdmproto.DecodeReport(body)
		if !errors.Is(err, mdmproto.ErrMalformed) || len(err.Error()) > 200 {
			t.Errorf("%s: %.300v, want a short ErrMalformed", name, err)
		}
	}
}
