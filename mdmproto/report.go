package mdmproto

import (
	"encoding/json"
	"fmt"
	"math"
)

// Command report statuses.
const (
	StatusIdle               = "Idle"
	StatusAcknowledged       = "Acknowledged"
	StatusError              = "Error"
	StatusCommandFormatError = "CommandFormatError"
	StatusNotNow             = "NotNow"
)

// ErrorChainItem is one error of a report's ErrorChain.
type ErrorChainItem struct {
	ErrorCode            int    `json:"errorCode"`
	ErrorDomain          string `json:"errorDomain"`
	LocalizedDescription string `json:"localizedDescription"`
	USEnglishDescription string `json:"usEnglishDescription,omitempty"`
}

// Report is what a device sends to the ServerURL: Idle, or the result of the
// command it was given.
type Report struct {
	Enrollment
	Status      string
	CommandUUID string           `plist:",omitempty"`
	ErrorChain  []ErrorChainItem `plist:",omitempty"`
}

// DecodeReport decodes and checks a command report.
func DecodeReport(body []byte) (*Report, error) {
	var r Report
	if err := UnmarshalPlist(body, &r); err != nil {
		return nil, err
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	switch r.Status {
	case StatusIdle:
	case StatusAcknowledged, StatusError, StatusCommandFormatError, StatusNotNow:
		if r.CommandUUID == "" {
			return nil, fmt.Errorf("%w: status %s without CommandUUID", ErrMalformed, r.Status)
		}
	case "":
		return nil, fmt.Errorf("%w: no Status", ErrMalformed)
	default:
		return nil, fmt.Errorf("%w: unknown Status %q", ErrMalformed, r.Status)
	}
	return &r, nil
}

// ResultJSON turns a report's plist into JSON for storage and GraphQL: data
// becomes base64, dates RFC 3339 strings; values JSON cannot hold (NaN) become null.
func ResultJSON(body []byte) ([]byte, error) {
	var v map[string]any
	if err := UnmarshalPlist(body, &v); err != nil {
		return nil, err
	}
	return json.Marshal(jsonSafe(v))
}

func jsonSafe(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonSafe(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonSafe(e)
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil
		}
	}
	return v
}
