package mdmproto

import (
	"bytes"
	"strings"

	json "github.com/segmentio/encoding/json"
)

// DeviceFacts are what a device tells about itself in Authenticate or in a
// DeviceInformation or SecurityInfo result. Nil means not reported: the
// stored value stays.
type DeviceFacts struct {
	Name     *string
	Model    *string
	Platform *string
	// ProductName (iPad8,12) and SoftwareUpdateDeviceID (J314sAP, a Mac's
	// board id) are what Apple's software update catalog lists devices by.
	ProductName              *string
	SoftwareUpdateDeviceID   *string
	OSVersion                *string
	BuildVersion             *string
	SerialNumber             *string
	AppleSilicon             *bool
	Supervised               *bool
	AwaitingConfiguration    *bool
	FileVaultEnabled         *bool
	ActivationLockManageable *bool
	UserApprovedEnrollment   *bool
	DEPEnrollment            *bool
}

// Facts of an Authenticate message.
func (m *CheckinMessage) Facts() DeviceFacts {
	f := DeviceFacts{
		Name: nonEmpty(m.DeviceName), Model: nonEmpty(m.Model), ProductName: nonEmpty(m.ProductName), OSVersion: nonEmpty(m.OSVersion),
		BuildVersion: nonEmpty(m.BuildVersion), SerialNumber: nonEmpty(m.SerialNumber),
	}
	if p := PlatformOf(m.ProductName, m.Model); p != "" {
		f.Platform = &p
	}
	return f
}

type deviceInformationResult struct {
	QueryResponses struct {
		DeviceName   *string
		Model        *string
		ModelName    *string
		ProductName  *string
		OSVersion    *string
		BuildVersion *string
		SerialNumber *string
		// SoftwareUpdateDeviceID is what the software update catalog
		// lists the device under (iOS 15, macOS 12 and later).
		SoftwareUpdateDeviceID *string
		IsAppleSilicon         *bool
		IsSupervised           *bool
		// AwaitingConfiguration is reported while in Setup Assistant.
		AwaitingConfiguration      *bool
		IsActivationLockManageable *bool `plist:"IsActivationLockManageable"`
	}
}

type securityInfoResult struct {
	SecurityInfo struct {
		FDEEnabled       *bool `plist:"FDE_Enabled" json:"FDE_Enabled"`
		ManagementStatus struct {
			EnrolledViaDEP             *bool
			UserApprovedEnrollment     *bool
			IsActivationLockManageable *bool
		}
	}
}

// FactsFromResult reads the device facts in the JSON of an Acknowledged
// result (DecodeReport's) of a DeviceInformation or SecurityInfo command;
// other request types have none. The JSON, not the plist, is read: the
// report's one plist parse made it already.
func FactsFromResult(requestType string, answer []byte) (DeviceFacts, bool) {
	switch requestType {
	case "DeviceInformation":
		var r deviceInformationResult
		if json.Unmarshal(answer, &r) != nil {
			return DeviceFacts{}, false
		}
		q := r.QueryResponses
		f := DeviceFacts{Name: q.DeviceName, Model: q.Model, ProductName: nonEmptyPtr(q.ProductName),
			SoftwareUpdateDeviceID: nonEmptyPtr(q.SoftwareUpdateDeviceID), OSVersion: q.OSVersion, BuildVersion: q.BuildVersion,
			SerialNumber: q.SerialNumber, AppleSilicon: q.IsAppleSilicon, Supervised: q.IsSupervised,
			AwaitingConfiguration: q.AwaitingConfiguration}
		if p := PlatformOf(deref(q.ProductName), deref(q.Model)); p != "" {
			f.Platform = &p
		}
		return f, true
	case "SecurityInfo":
		var r securityInfoResult
		if json.Unmarshal(answer, &r) != nil {
			return DeviceFacts{}, false
		}
		s := r.SecurityInfo
		return DeviceFacts{FileVaultEnabled: s.FDEEnabled, ActivationLockManageable: s.ManagementStatus.IsActivationLockManageable,
			UserApprovedEnrollment: s.ManagementStatus.UserApprovedEnrollment, DEPEnrollment: s.ManagementStatus.EnrolledViaDEP}, true
	}
	return DeviceFacts{}, false
}

// FactRequestTypes are the request types whose answers FactsFromResult reads.
func FactRequestTypes() []string { return []string{"DeviceInformation", "SecurityInfo"} }

// MayHoldFacts is a cheap first look at an answer's JSON: false means
// FactsFromResult would find no DeviceInformation facts in it.
func MayHoldFacts(answer []byte) bool {
	return bytes.Contains(answer, []byte(`"QueryResponses"`))
}

// PlatformOf names the platform from a ProductName (iPhone14,2, Mac14,3,
// AppleTV11,1, RealityDevice14,1) or, for older Macs, the model.
func PlatformOf(productName, model string) string {
	for _, p := range []struct{ prefix, platform string }{
		{"iPhone", "iOS"}, {"iPod", "iOS"}, {"iPad", "iPadOS"}, {"AppleTV", "tvOS"},
		{"RealityDevice", "visionOS"}, {"Watch", "watchOS"}, {"Mac", "macOS"}, {"iMac", "macOS"},
		{"VirtualMac", "macOS"},
	} {
		if strings.HasPrefix(productName, p.prefix) {
			return p.platform
		}
	}
	if strings.Contains(model, "Mac") {
		return "macOS"
	}
	return ""
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nonEmptyPtr is s, or nil where it is empty: an empty answer keeps what
// was stored.
func nonEmptyPtr(s *string) *string {
	if s == nil {
		return nil
	}
	return nonEmpty(*s)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
