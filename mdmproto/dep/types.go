// Package dep is a client of Apple's Device Enrollment Program web service
// (mdmenrollment.apple.com): OAuth1 sessions, device fetch and sync, device
// details, and profile definition and assignment. It imports nothing of orchard.
//
// Disown is not offered: it removes devices from the organisation for good and
// Apple recommends doing it only in Apple Business Manager.
package dep

import "time"

// ProtocolVersion is the X-Server-Protocol-Version orchard speaks.
const ProtocolVersion = "3"

// Profile status values Apple reports for a device.
const (
	ProfileEmpty    = "empty"
	ProfileAssigned = "assigned"
	ProfilePushed   = "pushed"
	ProfileRemoved  = "removed"
)

// Operation types of a device sync.
const (
	OpAdded    = "added"
	OpModified = "modified"
	OpDeleted  = "deleted"
)

// Per-device results of details, assign and remove calls.
const (
	ResultSuccess       = "SUCCESS"
	ResultNotAccessible = "NOT_ACCESSIBLE"
	ResultFailed        = "FAILED"
)

// Account is the answer of GET /account: the virtual server and its organisation.
type Account struct {
	ServerName    string       `json:"server_name"`
	ServerUUID    string       `json:"server_uuid"`
	AdminID       string       `json:"admin_id"`
	FacilitatorID string       `json:"facilitator_id,omitempty"`
	OrgName       string       `json:"org_name"`
	OrgEmail      string       `json:"org_email"`
	OrgPhone      string       `json:"org_phone"`
	OrgAddress    string       `json:"org_address"`
	OrgType       string       `json:"org_type,omitempty"`
	OrgVersion    string       `json:"org_version,omitempty"`
	OrgID         string       `json:"org_id,omitempty"`
	OrgIDHash     string       `json:"org_id_hash,omitempty"`
	URLs          []AccountURL `json:"urls,omitempty"`
}

// AccountURL is one endpoint with its rate limits.
type AccountURL struct {
	URI        string   `json:"uri"`
	HTTPMethod []string `json:"http_method"`
	Limit      *Limit   `json:"limit,omitempty"`
}

// Limit is the default and largest page size of an endpoint.
type Limit struct {
	Default int `json:"default"`
	Maximum int `json:"maximum"`
}

// Device is a device as fetch, sync and details return it.
type Device struct {
	SerialNumber       string     `json:"serial_number"`
	Model              string     `json:"model,omitempty"`
	Description        string     `json:"description,omitempty"`
	Color              string     `json:"color,omitempty"`
	AssetTag           string     `json:"asset_tag,omitempty"`
	OS                 string     `json:"os,omitempty"`
	DeviceFamily       string     `json:"device_family,omitempty"`
	ProfileStatus      string     `json:"profile_status,omitempty"`
	ProfileUUID        string     `json:"profile_uuid,omitempty"`
	ProfileAssignTime  *time.Time `json:"profile_assign_time,omitempty"`
	ProfilePushTime    *time.Time `json:"profile_push_time,omitempty"`
	DeviceAssignedDate *time.Time `json:"device_assigned_date,omitempty"`
	DeviceAssignedBy   string     `json:"device_assigned_by,omitempty"`
	// OpType and OpDate are set by sync only.
	OpType string     `json:"op_type,omitempty"`
	OpDate *time.Time `json:"op_date,omitempty"`
	// ResponseStatus is set by details only (SUCCESS or NOT_ACCESSIBLE).
	ResponseStatus string `json:"response_status,omitempty"`
}

// DeviceRequest is the body of fetch and sync: a page size and a cursor.
type DeviceRequest struct {
	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// DevicePage is one page of fetch or sync.
type DevicePage struct {
	Devices      []Device   `json:"devices"`
	Cursor       string     `json:"cursor"`
	MoreToFollow bool       `json:"more_to_follow"`
	FetchedUntil *time.Time `json:"fetched_until,omitempty"`
}

// Profile is a DEP enrollment profile, with Apple's field names.
type Profile struct {
	ProfileUUID           string   `json:"profile_uuid,omitempty"`
	ProfileName           string   `json:"profile_name"`
	URL                   string   `json:"url"`
	AllowPairing          bool     `json:"allow_pairing,omitempty"`
	IsSupervised          bool     `json:"is_supervised"`
	IsMultiUser           bool     `json:"is_multi_user,omitempty"`
	IsMandatory           bool     `json:"is_mandatory"`
	AwaitDeviceConfigured bool     `json:"await_device_configured"`
	IsMDMRemovable        bool     `json:"is_mdm_removable"`
	SupportPhoneNumber    string   `json:"support_phone_number,omitempty"`
	AutoAdvanceSetup      bool     `json:"auto_advance_setup,omitempty"`
	SupportEmailAddress   string   `json:"support_email_address,omitempty"`
	OrgMagic              string   `json:"org_magic,omitempty"`
	AnchorCerts           []string `json:"anchor_certs,omitempty"`
	SupervisingHostCerts  []string `json:"supervising_host_certs,omitempty"`
	SkipSetupItems        []string `json:"skip_setup_items,omitempty"`
	Department            string   `json:"department,omitempty"`
	Devices               []string `json:"devices,omitempty"`
	Language              string   `json:"language,omitempty"`
	Region                string   `json:"region,omitempty"`
}

// ProfileResult is what defining, assigning or removing a profile returns.
type ProfileResult struct {
	ProfileUUID string            `json:"profile_uuid,omitempty"`
	Devices     map[string]string `json:"devices"`
}

// Succeeded lists the serials Apple answered SUCCESS for.
func (r *ProfileResult) Succeeded() []string {
	var ok []string
	for serial, result := range r.Devices {
		if result == ResultSuccess {
			ok = append(ok, serial)
		}
	}
	return ok
}
