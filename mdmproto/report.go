package mdmproto

import (
	"fmt"
	"math"

	// encoding/json's semantics at a fraction of its cost: every device
	// request passes here (FuzzDecode holds the two to the same reading).
	json "github.com/segmentio/encoding/json"
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

// DecodeReport decodes and checks a command report, and returns it as JSON
// too, for storage and GraphQL (data as base64, dates as RFC 3339 strings,
// values JSON cannot hold, such as NaN, as null). One plist parse serves both:
// reports such as InstalledApplicationList run to megabytes.
func DecodeReport(body []byte) (*Report, []byte, error) {
	result, err := AnswerJSON(body)
	if err != nil {
		return nil, nil, err
	}
	var r Report
	if err := json.Unmarshal(result, &r); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := r.check(); err != nil {
		return nil, nil, err
	}
	return &r, result, nil
}

// AnswerJSON is a report plist as JSON, unchecked: DecodeReport's
// conversion.
func AnswerJSON(body []byte) ([]byte, error) {
	var v map[string]any
	if err := UnmarshalPlist(body, &v); err != nil {
		return nil, err
	}
	result, err := json.Marshal(jsonSafe(v))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return result, nil
}

func (r *Report) check() error {
	if err := r.validate(); err != nil {
		return err
	}
	if err := checkText("CommandUUID", r.CommandUUID); err != nil {
		return err
	}
	switch r.Status {
	case StatusIdle:
	case StatusAcknowledged, StatusError, StatusCommandFormatError, StatusNotNow:
		if r.CommandUUID == "" {
			return fmt.Errorf("%w: status %s without CommandUUID", ErrMalformed, r.Status)
		}
	case "":
		return fmt.Errorf("%w: no Status", ErrMalformed)
	default:
		return fmt.Errorf("%w: unknown Status %s", ErrMalformed, Quote(r.Status))
	}
	return nil
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
