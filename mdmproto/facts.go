package mdmproto

import (
	"strings"
)

// DeviceFacts are what a device tells about itself in Authenticate or in a
// DeviceInformation or SecurityInfo result. Nil means not reported: the
// stored value stays.
type DeviceFacts struct {
	Name                     *string
	Model                    *string
	Platform                 *string
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
		Name: nonEmpty(m.DeviceName), Model: nonEmpty(m.Model), OSVersion: nonEmpty(m.OSVersion),
		BuildVersion: nonEmpty(m.BuildVersion), SerialNumber: nonEmpty(m.SerialNumber),
	}
	if p := PlatformOf(m.ProductName, m.Model); p != "" {
		f.Platform = &p
	}
	return f
}

type deviceInformationResult struct {
	QueryResponses struct {
		DeviceName     *string
		Model          *string
		ModelName      *string
		ProductName    *string
		OSVersion      *string
		BuildVersion   *string
		SerialNumber   *string
		IsAppleSilicon *bool
		IsSupervised   *bool
		// AwaitingConfiguration is reported while in Setup Assistant.
		AwaitingConfiguration      *bool
		IsActivationLockManageable *bool `plist:"IsActivationLockManageable"`
	}
}

type securityInfoResult struct {
	SecurityInfo struct {
		FDEEnabled       *bool `plist:"FDE_Enabled"`
		ManagementStatus struct {
			EnrolledViaDEP             *bool
			UserApprovedEnrollment     *bool
			IsActivationLockManageable *bool
		}
	}
}

// FactsFromResult reads the device facts in an Acknowledged result of a
// DeviceInformation or SecurityInfo command; other request types have none.
func FactsFromResult(requestType string, body []byte) (DeviceFacts, bool) {
	switch requestType {
	case "DeviceInformation":
		var r deviceInformationResult
		if UnmarshalPlist(body, &r) != nil {
			return DeviceFacts{}, false
		}
		q := r.QueryResponses
		f := DeviceFacts{Name: q.DeviceName, Model: q.Model, OSVersion: q.OSVersion, BuildVersion: q.BuildVersion,
			SerialNumber: q.SerialNumber, AppleSilicon: q.IsAppleSilicon, Supervised: q.IsSupervised,
			AwaitingConfiguration: q.AwaitingConfiguration}
		if p := PlatformOf(deref(q.ProductName), deref(q.Model)); p != "" {
			f.Platform = &p
		}
		return f, true
	case "SecurityInfo":
		var r securityInfoResult
		if UnmarshalPlist(body, &r) != nil {
			return DeviceFacts{}, false
		}
		s := r.SecurityInfo
		return DeviceFacts{FileVaultEnabled: s.FDEEnabled, ActivationLockManageable: s.ManagementStatus.IsActivationLockManageable,
			UserApprovedEnrollment: s.ManagementStatus.UserApprovedEnrollment, DEPEnrollment: s.ManagementStatus.EnrolledViaDEP}, true
	}
	return DeviceFacts{}, false
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

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
