package mdmproto

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What Apple devices send as identifiers (apple/device-management,
// mdm/checkin/*.yaml), checked before anything is stored or logged: a
// hostile device may send a megabyte, a path or markup where a UDID goes.
var (
	// udidFormat: a Mac's or a virtual machine's UUID (36), an iOS device's
	// 40 hex digits (before iPhone XS) or the 8-16 form of newer devices and
	// Apple silicon Macs (00008020-001234567890002E). Case varies by OS.
	udidFormat = regexp.MustCompile(`^(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{16})$`)
	// enrollmentIDFormat: User Enrollment's per-enrollment identifier,
	// opaque to servers; letters, digits and dashes in practice.
	enrollmentIDFormat = regexp.MustCompile(`^[0-9A-Za-z-]{1,64}$`)
	// userIDFormat: a macOS user's GUID, or FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF on Shared iPad.
	userIDFormat = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)
	// serialFormat: Apple serials are 10-12 letters and digits; virtual
	// machines' are longer and VMware's carry "+" and "/".
	serialFormat = regexp.MustCompile(`^[0-9A-Za-z+/]{1,32}$`)
)

// MaxFactBytes bounds a free-text fact (device name, model, OS version, user
// name...): Apple's are a few dozen bytes.
const MaxFactBytes = 256

// Quote is a value for a log line or error: quoted, and cut after 64 bytes.
func Quote(s string) string {
	const max = 64
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:cut], len(s))
}

func checkFormat(name, value string, format *regexp.Regexp) error {
	if value != "" && !format.MatchString(value) {
		return fmt.Errorf("%w: %s %s is not in Apple's format", ErrMalformed, name, Quote(value))
	}
	return nil
}

// checkText refuses a free-text value that is too long, not UTF-8, or holds
// control characters (newlines forge log lines; NUL breaks PostgreSQL text).
func checkText(name, value string) error {
	if len(value) > MaxFactBytes {
		return fmt.Errorf("%w: %s is %d bytes, over %d", ErrMalformed, name, len(value), MaxFactBytes)
	}
	if !utf8.ValidString(value) || strings.ContainsFunc(value, unicode.IsControl) {
		return fmt.Errorf("%w: %s %s holds control characters or is not UTF-8", ErrMalformed, name, Quote(value))
	}
	return nil
}

// checkTexts runs checkText on name/value pairs.
func checkTexts(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := checkText(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// CheckDeviceIDs checks a UDID and serial number (either may be empty) a
// device sent outside a check-in, such as DEP machine info.
func CheckDeviceIDs(udid, serial string) error {
	if err := checkFormat("UDID", udid, udidFormat); err != nil {
		return err
	}
	return checkFormat("SerialNumber", serial, serialFormat)
}

func (e Enrollment) validate() error {
	if e.DeviceID() == "" {
		return fmt.Errorf("%w: neither UDID nor EnrollmentID", ErrMalformed)
	}
	if err := checkFormat("UDID", e.UDID, udidFormat); err != nil {
		return err
	}
	if err := checkFormat("EnrollmentID", e.EnrollmentID, enrollmentIDFormat); err != nil {
		return err
	}
	if err := checkFormat("UserID", e.UserID, userIDFormat); err != nil {
		return err
	}
	// A short name is a macOS account name or a Managed Apple Account (an
	// e-mail address): text, but never a path.
	if strings.ContainsAny(e.UserShortName, `/\:`) {
		return fmt.Errorf("%w: UserShortName %s holds '/', '\\' or ':'", ErrMalformed, Quote(e.UserShortName))
	}
	return checkTexts("UserShortName", e.UserShortName, "UserLongName", e.UserLongName)
}

// validateFacts checks what a check-in says about the device.
func (m *CheckinMessage) validateFacts() error {
	if err := checkFormat("SerialNumber", m.SerialNumber, serialFormat); err != nil {
		return err
	}
	return checkTexts("MessageType", m.MessageType, "Topic", m.Topic, "BuildVersion", m.BuildVersion,
		"DeviceName", m.DeviceName, "Model", m.Model, "ModelName", m.ModelName, "OSVersion", m.OSVersion,
		"ProductName", m.ProductName, "IMEI", m.IMEI, "MEID", m.MEID, "PushMagic", m.PushMagic,
		"Endpoint", m.Endpoint, "TokenServiceType", m.TokenServiceType)
}
