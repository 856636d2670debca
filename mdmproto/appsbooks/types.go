// Package appsbooks is a client of Apple's Apps and Books for Organizations
// service (vpp.itunes.apple.com/mdm/v2): the location's configuration, its
// assets and assignments, asynchronous associate/disassociate events, and
// the notifications Apple posts back. It imports nothing of orchard.
package appsbooks

import (
	"encoding/json"
	"time"
)

// Event statuses Apple reports for an asynchronous event.
const (
	EventPending  = "PENDING"
	EventComplete = "COMPLETE"
	EventFailed   = "FAILED"
)

// Notification types Apple posts.
const (
	NotifyAssetCount      = "ASSET_COUNT"
	NotifyAssetManagement = "ASSET_MANAGEMENT"
	NotifyUserManagement  = "USER_MANAGEMENT"
	NotifyUserAssociated  = "USER_ASSOCIATED"
	NotifyTest            = "TEST_NOTIFICATION"
)

// MdmInfo names the MDM server that manages a location.
type MdmInfo struct {
	ID       string `json:"id"`
	Metadata string `json:"metadata,omitempty"`
	Name     string `json:"name"`
}

// ClientConfig is GET client/config: what Apple knows of the location.
type ClientConfig struct {
	ClientContext       string    `json:"clientContext,omitempty"`
	CountryISO2ACode    string    `json:"countryISO2ACode"`
	DefaultPlatform     string    `json:"defaultPlatform"`
	Email               string    `json:"email,omitempty"`
	LocationName        string    `json:"locationName"`
	MdmInfo             *MdmInfo  `json:"mdmInfo,omitempty"`
	NotificationTypes   []string  `json:"notificationTypes,omitempty"`
	NotificationURL     string    `json:"notificationUrl,omitempty"`
	TokenExpirationDate AppleTime `json:"tokenExpirationDate"`
	UID                 string    `json:"uId"`
	WebsiteURL          string    `json:"websiteURL"`
}

// ClientConfigRequest is POST client/config: registers the MDM server and
// where (and with which bearer token) Apple posts notifications.
type ClientConfigRequest struct {
	MdmInfo               *MdmInfo `json:"mdmInfo,omitempty"`
	NotificationAuthToken string   `json:"notificationAuthToken,omitempty"`
	NotificationTypes     []string `json:"notificationTypes,omitempty"`
	NotificationURL       string   `json:"notificationUrl,omitempty"`
}

// Limits are Apple's request limits from service/config.
type Limits struct {
	MaxAssets        int `json:"maxAssets"`
	MaxSerialNumbers int `json:"maxSerialNumbers"`
	MaxClientUserIDs int `json:"maxClientUserIds"`
}

// ServiceConfig is GET service/config.
type ServiceConfig struct {
	Limits            Limits            `json:"limits"`
	NotificationTypes []string          `json:"notificationTypes,omitempty"`
	URLs              map[string]string `json:"urls,omitempty"`
}

// Asset is one app or book the location holds licences of.
type Asset struct {
	AdamID             string   `json:"adamId"`
	PricingParam       string   `json:"pricingParam"`
	ProductType        string   `json:"productType"`
	AssignedCount      int      `json:"assignedCount"`
	AvailableCount     int      `json:"availableCount"`
	RetiredCount       int      `json:"retiredCount"`
	TotalCount         int      `json:"totalCount"`
	DeviceAssignable   bool     `json:"deviceAssignable"`
	Revocable          bool     `json:"revocable"`
	SupportedPlatforms []string `json:"supportedPlatforms"`
}

// Page is the paging part of Apple's paged answers.
type Page struct {
	CurrentPageIndex int `json:"currentPageIndex"`
	// NextPageIndex is absent on the last page.
	NextPageIndex       *int      `json:"nextPageIndex,omitempty"`
	Size                int       `json:"size"`
	TotalPages          int       `json:"totalPages"`
	VersionID           string    `json:"versionId"`
	TokenExpirationDate AppleTime `json:"tokenExpirationDate"`
	UID                 string    `json:"uId"`
}

// AssetsPage is one page of GET assets.
type AssetsPage struct {
	Assets []Asset `json:"assets"`
	Page
}

// Assignment is one licence given to a device (serialNumber) or a user.
type Assignment struct {
	AdamID       string `json:"adamId"`
	PricingParam string `json:"pricingParam"`
	SerialNumber string `json:"serialNumber,omitempty"`
	ClientUserID string `json:"clientUserId,omitempty"`
}

// AssignmentsPage is one page of GET assignments.
type AssignmentsPage struct {
	Assignments []Assignment `json:"assignments"`
	Page
}

// AssetRef names an asset in a manage request.
type AssetRef struct {
	AdamID       string `json:"adamId"`
	PricingParam string `json:"pricingParam"`
}

// ManageRequest is the body of assets/associate and assets/disassociate.
type ManageRequest struct {
	Assets        []AssetRef `json:"assets"`
	SerialNumbers []string   `json:"serialNumbers,omitempty"`
	ClientUserIDs []string   `json:"clientUserIds,omitempty"`
}

// EventResponse is Apple's answer to an asynchronous request.
type EventResponse struct {
	EventID             string    `json:"eventId"`
	TokenExpirationDate AppleTime `json:"tokenExpirationDate"`
	UID                 string    `json:"uId"`
}

// EventFailure is one part of an event Apple could not carry out.
type EventFailure struct {
	AdamID       string `json:"adamId,omitempty"`
	PricingParam string `json:"pricingParam,omitempty"`
	SerialNumber string `json:"serialNumber,omitempty"`
	ErrorNumber  int    `json:"errorNumber,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// EventStatus is GET status?eventId=.
type EventStatus struct {
	EventStatus  string         `json:"eventStatus"`
	EventType    string         `json:"eventType"`
	NumCompleted int            `json:"numCompleted"`
	NumRequested int            `json:"numRequested"`
	Failures     []EventFailure `json:"failures,omitempty"`
	UID          string         `json:"uId"`
}

// Notification is what Apple posts to the registered notification URL.
type Notification struct {
	NotificationID   string          `json:"notificationId"`
	NotificationType string          `json:"notificationType"`
	UID              string          `json:"uId"`
	Notification     json.RawMessage `json:"notification"`
}

// AssetCountNotification: a licence count changed (purchase, transfer, refund).
type AssetCountNotification struct {
	AdamID       string `json:"adamId"`
	PricingParam string `json:"pricingParam"`
	CountDelta   int    `json:"countDelta"`
}

// AssetManagementNotification: an associate, disassociate or revoke event ended.
type AssetManagementNotification struct {
	Assignments []Assignment `json:"assignments"`
	EventID     string       `json:"eventId"`
	// Result is SUCCESS or FAILURE.
	Result string `json:"result"`
	// Type is ASSOCIATE, DISASSOCIATE or REVOKE.
	Type string `json:"type"`
}

// Change says what a successful notification does to its assignments:
// associate (true) or take back (false); ok is false for a failure or a
// type orchard does not act on.
func (m AssetManagementNotification) Change() (associate, ok bool) {
	if m.Result != "SUCCESS" {
		return false, false
	}
	switch m.Type {
	case "ASSOCIATE":
		return true, true
	case "DISASSOCIATE", "REVOKE":
		return false, true
	}
	return false, false
}

// AppleTime is Apple's time format, "2030-11-08T22:33:22+0000".
type AppleTime struct{ time.Time }

// AppleTimeLayout is how Apple writes times.
const AppleTimeLayout = "2006-01-02T15:04:05-0700"

// MarshalJSON writes Apple's format.
func (t AppleTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte(`null`), nil
	}
	return json.Marshal(t.UTC().Format(AppleTimeLayout))
}

// UnmarshalJSON reads Apple's format, or RFC 3339.
func (t *AppleTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil || s == "" {
		return err
	}
	v, err := ParseAppleTime(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// ParseAppleTime reads "2030-11-08T22:33:22+0000" or RFC 3339.
func ParseAppleTime(s string) (time.Time, error) {
	if v, err := time.Parse(AppleTimeLayout, s); err == nil {
		return v, nil
	}
	return time.Parse(time.RFC3339, s)
}
