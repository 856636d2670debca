package ddm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/orchardmdm/orchard/mdmproto/ddm"
)

// A report's device and softwareupdate items are read as Apple nests them;
// items not in the report stay nil.
func TestStatusReportDeviceItems(t *testing.T) {
	r, err := ddm.ParseStatusReport([]byte(`{"StatusItems": {
		"device": {"operating-system": {"version": "15.2", "build-version": "24C101"}},
		"softwareupdate": {"device-id": "J473AP", "install-state": "failed",
			"pending-version": {"os-version": "15.3", "build-version": "24D60"},
			"failure-reason": {"count": 2, "reason": "not enough space", "timestamp": "2026-12-01T10:00:00Z"}}},
		"Errors": []}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Device()
	if err != nil {
		t.Fatal(err)
	}
	su := d.SoftwareUpdate
	if *d.OSVersion != "15.2" || *d.BuildVersion != "24C101" || *d.SoftwareUpdateDeviceID != "J473AP" || su == nil ||
		*su.InstallState != "failed" || su.Pending.OSVersion != "15.3" || su.Failure.Count != 2 ||
		su.Failure.Reason != "not enough space" || su.Failure.At == nil || su.Failure.At.Day() != 1 {
		t.Fatalf("device status = %+v, software update %+v", d, su)
	}

	r, err = ddm.ParseStatusReport([]byte(`{"StatusItems": {"softwareupdate": {"install-state": "downloading"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if d, err = r.Device(); err != nil || d.OSVersion != nil || d.SoftwareUpdate.Pending != nil || d.SoftwareUpdate.Failure != nil {
		t.Fatalf("a partial report: %+v, %v", d, err)
	}
}

// Items of the wrong shape, negative counts, control characters and
// oversized text are refused as malformed.
func TestStatusReportRefusesBadDeviceItems(t *testing.T) {
	for name, items := range map[string]string{
		"not an object":   `{"device": "15.2"}`,
		"wrong type":      `{"device": {"operating-system": {"version": 15}}}`,
		"negative count":  `{"softwareupdate": {"failure-reason": {"count": -1}}}`,
		"control":         `{"softwareupdate": {"device-id": "J473AP\u0000"}}`,
		"too long":        `{"softwareupdate": {"pending-version": {"os-version": "` + strings.Repeat("1", 300) + `", "build-version": ""}}}`,
		"newline in text": `{"softwareupdate": {"install-state": "none\nfailed"}}`,
	} {
		r, err := ddm.ParseStatusReport([]byte(`{"StatusItems": ` + items + `}`))
		if err != nil {
			t.Fatalf("%s: the report itself: %v", name, err)
		}
		if _, err := r.Device(); !errors.Is(err, ddm.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// An empty value in a status item says nothing of the device: the stored
// value stays (nil), as a missing item's would.
func TestStatusReportEmptyDeviceItemsKeepWhatWasStored(t *testing.T) {
	r, err := ddm.ParseStatusReport([]byte(`{"StatusItems": {"device": {"operating-system": {"version": "", "build-version": ""}},
		"softwareupdate": {"device-id": ""}}}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Device()
	if err != nil || d.OSVersion != nil || d.BuildVersion != nil || d.SoftwareUpdateDeviceID != nil {
		t.Fatalf("empty items read as %+v, %v", d, err)
	}
}
