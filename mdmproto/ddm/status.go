package ddm

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MaxStatusReport bounds a status report's JSON.
const MaxStatusReport = 1 << 20

// maxDeclarationStatuses bounds the declarations one report describes.
const maxDeclarationStatuses = 5000

// Reason is why a declaration is not valid or not active.
type Reason struct {
	Code        string         `json:"code"`
	Description string         `json:"description,omitempty"`
	Details     map[string]any `json:"details,omitempty"`
}

// DeclarationStatus is a device's view of one declaration.
type DeclarationStatus struct {
	Kind        string   `json:"-"`
	Identifier  string   `json:"identifier"`
	ServerToken string   `json:"server-token"`
	Active      bool     `json:"active"`
	Valid       string   `json:"valid"`
	Reasons     []Reason `json:"reasons,omitempty"`
}

type declarationsStatus struct {
	Activations    []DeclarationStatus `json:"activations"`
	Configurations []DeclarationStatus `json:"configurations"`
	Assets         []DeclarationStatus `json:"assets"`
	Management     []DeclarationStatus `json:"management"`
}

// StatusReport is what a device sends to the status endpoint.
type StatusReport struct {
	StatusItems map[string]json.RawMessage
	Errors      []json.RawMessage
	// FullReport is true when the report lists every status item, so what
	// it does not list is gone.
	FullReport bool
	// Declarations is management.declarations, flattened; Reported says
	// whether the report carried that item at all.
	Declarations []DeclarationStatus `json:"-"`
	Reported     bool                `json:"-"`
}

// ParseStatusReport reads and checks a status report.
func ParseStatusReport(data []byte) (*StatusReport, error) {
	if len(data) == 0 || len(data) > MaxStatusReport {
		return nil, fmt.Errorf("%w: status report of %d bytes", ErrMalformed, len(data))
	}
	var r StatusReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: status report: %v", ErrMalformed, err)
	}
	if r.StatusItems == nil {
		return nil, fmt.Errorf("%w: status report without StatusItems", ErrMalformed)
	}
	raw, ok := r.StatusItems["management"]
	if !ok || bytes.Equal(raw, []byte("null")) {
		return &r, nil
	}
	var mgmt struct {
		Declarations *declarationsStatus `json:"declarations"`
	}
	if err := json.Unmarshal(raw, &mgmt); err != nil {
		return nil, fmt.Errorf("%w: management status: %v", ErrMalformed, err)
	}
	if mgmt.Declarations == nil {
		return &r, nil
	}
	r.Reported = true
	return &r, r.flatten(mgmt.Declarations)
}

func (r *StatusReport) flatten(d *declarationsStatus) error {
	for kind, list := range map[string][]DeclarationStatus{KindActivation: d.Activations,
		KindConfiguration: d.Configurations, KindAsset: d.Assets, KindManagement: d.Management} {
		for _, s := range list {
			switch {
			case s.Identifier == "" || len(s.Identifier) > 512:
				return fmt.Errorf("%w: declaration status without a usable identifier", ErrMalformed)
			case s.Valid != "valid" && s.Valid != "invalid" && s.Valid != "unknown":
				return fmt.Errorf("%w: declaration %s: valid must be valid, invalid or unknown", ErrMalformed, clip(s.Identifier))
			}
			s.Kind = kind
			r.Declarations = append(r.Declarations, s)
		}
	}
	if len(r.Declarations) > maxDeclarationStatuses {
		return fmt.Errorf("%w: more than %d declaration statuses", ErrMalformed, maxDeclarationStatuses)
	}
	return nil
}
