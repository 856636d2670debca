package ddm

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// SubscribedStatusItems are the status items orchard asks devices to report
// (com.apple.configuration.management.status-subscriptions) and reads: the
// OS a device runs, and where its software update stands.
var SubscribedStatusItems = []string{
	"device.operating-system.version", "device.operating-system.build-version",
	"softwareupdate.device-id", "softwareupdate.install-state", "softwareupdate.pending-version",
	"softwareupdate.failure-reason",
}

// StatusSubscriptions is the configuration subscribing a device to
// SubscribedStatusItems.
func StatusSubscriptions(identifier string) Declaration {
	items := make([]any, len(SubscribedStatusItems))
	for i, name := range SubscribedStatusItems {
		items[i] = map[string]any{"Name": name}
	}
	return NewDeclaration("com.apple.configuration.management.status-subscriptions", identifier,
		map[string]any{"StatusItems": items})
}

// DeviceStatus is what a status report says of the device besides its
// declarations; nil fields were not in the report (a report may carry only
// the items that changed).
type DeviceStatus struct {
	OSVersion, BuildVersion, SoftwareUpdateDeviceID *string
	SoftwareUpdate                                  *SoftwareUpdateStatus
}

// SoftwareUpdateStatus is a device's softwareupdate status items; nil
// fields were not reported.
type SoftwareUpdateStatus struct {
	// InstallState is none, waiting, downloading, prepared, installing or failed.
	InstallState *string
	Pending      *PendingVersion
	Failure      *UpdateFailure
}

// PendingVersion is the update waiting on the device; empty when none is.
type PendingVersion struct {
	OSVersion    string `json:"os-version"`
	BuildVersion string `json:"build-version"`
}

// UpdateFailure is how often the pending update failed, and why last.
type UpdateFailure struct {
	Count  int
	Reason string
	At     *time.Time
}

// maxStatusText bounds the strings orchard keeps from status items.
const maxStatusText = 256

type deviceItems struct {
	OperatingSystem *struct {
		Version      *string `json:"version"`
		BuildVersion *string `json:"build-version"`
	} `json:"operating-system"`
}

type softwareUpdateItems struct {
	DeviceID       *string         `json:"device-id"`
	InstallState   *string         `json:"install-state"`
	PendingVersion *PendingVersion `json:"pending-version"`
	FailureReason  *struct {
		Count     int    `json:"count"`
		Reason    string `json:"reason"`
		Timestamp string `json:"timestamp"`
	} `json:"failure-reason"`
}

// Device reads the device and softwareupdate status items of a report. An
// item of the wrong shape, or text that is too long or holds control
// characters, is refused with ErrMalformed.
func (r *StatusReport) Device() (DeviceStatus, error) {
	var out DeviceStatus
	var dev deviceItems
	var su softwareUpdateItems
	if err := decodeItem(r.StatusItems, "device", &dev); err != nil {
		return out, err
	}
	if err := decodeItem(r.StatusItems, "softwareupdate", &su); err != nil {
		return out, err
	}
	// An empty value says nothing: what was stored stays.
	if os := dev.OperatingSystem; os != nil {
		out.OSVersion, out.BuildVersion = nonEmpty(os.Version), nonEmpty(os.BuildVersion)
	}
	out.SoftwareUpdateDeviceID = nonEmpty(su.DeviceID)
	if su.InstallState != nil || su.PendingVersion != nil || su.FailureReason != nil {
		out.SoftwareUpdate = &SoftwareUpdateStatus{InstallState: su.InstallState, Pending: su.PendingVersion}
		if f := su.FailureReason; f != nil {
			if f.Count < 0 {
				return out, fmt.Errorf("%w: softwareupdate.failure-reason count %d", ErrMalformed, f.Count)
			}
			out.SoftwareUpdate.Failure = &UpdateFailure{Count: f.Count, Reason: f.Reason, At: rfc3339(f.Timestamp)}
		}
	}
	return out, out.check()
}

func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

func decodeItem(items map[string]json.RawMessage, name string, v any) error {
	raw, ok := items[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %s status: %v", ErrMalformed, name, err)
	}
	return nil
}

// rfc3339 is the time a status item gives, nil when it gives none or one
// that does not parse (the failure is kept without its time).
func rfc3339(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil
	}
	return &t
}

func (d DeviceStatus) check() error {
	texts := map[string]*string{"device.operating-system.version": d.OSVersion,
		"device.operating-system.build-version": d.BuildVersion, "softwareupdate.device-id": d.SoftwareUpdateDeviceID}
	if su := d.SoftwareUpdate; su != nil {
		texts["softwareupdate.install-state"] = su.InstallState
		if p := su.Pending; p != nil {
			texts["softwareupdate.pending-version os-version"] = &p.OSVersion
			texts["softwareupdate.pending-version build-version"] = &p.BuildVersion
		}
		if f := su.Failure; f != nil {
			texts["softwareupdate.failure-reason reason"] = &f.Reason
		}
	}
	for name, s := range texts {
		if s != nil && (len(*s) > maxStatusText || strings.IndexFunc(*s, unicode.IsControl) >= 0) {
			return fmt.Errorf("%w: %s is longer than %d bytes or holds control characters", ErrMalformed, name, maxStatusText)
		}
	}
	return nil
}
