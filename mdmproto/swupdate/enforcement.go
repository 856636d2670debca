package swupdate

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"
)

// DeclarationType is Apple's declarative software update enforcement.
const DeclarationType = "com.apple.configuration.softwareupdate.enforcement.specific"

// LocalDateTimeLayout is TargetLocalDateTime: RFC 3339 without a zone, read
// in the device's own time zone.
const LocalDateTimeLayout = "2006-01-02T15:04:05"

// Target is a release a device must run by a local date-time.
type Target struct {
	OSVersion string
	// BuildVersion is optional; it may carry a supplemental suffix (20A242a).
	BuildVersion string
	// LocalDateTime is read as the device's local time: its zone is ignored.
	LocalDateTime time.Time
	DetailsURL    string
}

// Declaration is a declarative management declaration.
type Declaration struct {
	Type        string         `json:"Type"`
	Identifier  string         `json:"Identifier"`
	ServerToken string         `json:"ServerToken"`
	Payload     map[string]any `json:"Payload"`
}

// EnforcementDeclaration is the software update enforcement declaration of a
// target, as Apple's schema has it (TargetOSVersion and TargetLocalDateTime
// required, TargetBuildVersion and DetailsURL optional). The server token
// changes whenever the target does, so devices apply a changed target.
func EnforcementDeclaration(identifier string, t Target) (Declaration, error) {
	if identifier == "" || t.OSVersion == "" || t.LocalDateTime.IsZero() {
		return Declaration{}, errors.New("software update declaration needs an identifier, a target OS version and a date-time")
	}
	payload := map[string]any{
		"TargetOSVersion":     t.OSVersion,
		"TargetLocalDateTime": t.LocalDateTime.Format(LocalDateTimeLayout),
	}
	if t.BuildVersion != "" {
		payload["TargetBuildVersion"] = t.BuildVersion
	}
	if t.DetailsURL != "" {
		payload["DetailsURL"] = t.DetailsURL
	}
	token, err := json.Marshal(payload)
	if err != nil {
		return Declaration{}, err
	}
	return Declaration{Type: DeclarationType, Identifier: identifier, ServerToken: tokenOf(token), Payload: payload}, nil
}

// ScheduleOSUpdatePayload is the ScheduleOSUpdate command (for devices
// without declarative management) installing a version as soon as it can.
func ScheduleOSUpdatePayload(osVersion string) map[string]any {
	return map[string]any{"Updates": []any{map[string]any{"ProductVersion": osVersion, "InstallAction": "InstallASAP"}}}
}

// tokenOf names a payload's content (FNV-1a, hex): equal payloads, equal tokens.
func tokenOf(b []byte) string {
	h := fnv.New64a()
	_, _ = h.Write(b)
	return fmt.Sprintf("%016x", h.Sum64())
}
