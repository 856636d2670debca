package mdmproto

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/micromdm/plist"
)

// Command is what the server answers a report with.
type Command struct {
	CommandUUID string
	Command     map[string]any
}

// KnownRequestTypes are the MDM commands orchard may queue (Apple's
// device-management mdm/commands). Anything else is refused, so a typo
// never sits in a queue that the device rejects. ActivationLockBypassCode's
// answer (a code that lifts Activation Lock) is sealed (resultSecrets) and
// read only with its own permission, every read audited.
var KnownRequestTypes = []string{
	"ActivationLockBypassCode", "ActiveNSExtensions", "AvailableOSUpdates", "CertificateList",
	"ClearActivationLockBypassCode", "ClearPasscode", "ClearRestrictionsPassword", "ContentCachingInformation",
	"DeclarativeManagement", "DeleteUser", "DeviceConfigured", "DeviceInformation", "DeviceLocation",
	"DeviceLock", "DisableLostMode", "DisableRemoteDesktop", "EnableLostMode", "EnableRemoteDesktop",
	"EraseDevice", "InstallApplication", "InstallEnterpriseApplication", "InstallMedia", "InstallProfile",
	"InstallProvisioningProfile", "InstalledApplicationList", "LOMDeviceRequest", "LOMSetupRequest",
	"LogOutUser", "ManagedApplicationAttributes", "ManagedApplicationConfiguration",
	"ManagedApplicationFeedback", "ManagedApplicationList", "ManagedMediaList", "NSExtensionMappings",
	"OSUpdateStatus", "PlayLostModeSound", "ProfileList", "ProvisioningProfileList", "RefreshCellularPlans",
	"RemoveApplication", "RemoveMedia", "RemoveProfile", "RemoveProvisioningProfile", "RequestMirroring",
	"RestartDevice", "RestrictionsList", "RotateFileVaultKey", "ScheduleOSUpdate", "ScheduleOSUpdateScan",
	"SecurityInfo", "SetAutoAdminPassword", "SetFirmwarePassword", "SetRecoveryLock", "Settings",
	"SetupConfiguration", "ShutDownDevice", "StopMirroring", "UnlockUserAccount", "UserList",
	"ValidateApplications", "VerifyFirmwarePassword", "VerifyRecoveryLock",
}

// KnownRequestType reports whether orchard may queue this request type.
func KnownRequestType(t string) bool { return slices.Contains(KnownRequestTypes, t) }

// NewCommand builds a command plist with a fresh CommandUUID. payload holds
// the command's keys besides RequestType (as decoded from JSON: whole
// numbers become integers, since Apple's schemas want integers there).
func NewCommand(requestType string, payload map[string]any) (uuid string, body []byte, err error) {
	if !KnownRequestType(requestType) {
		return "", nil, fmt.Errorf("unknown request type %q", requestType)
	}
	cmd := map[string]any{}
	for k, v := range payload {
		if k == "RequestType" {
			return "", nil, fmt.Errorf("payload must not set RequestType")
		}
		cmd[k] = integral(v)
	}
	cmd["RequestType"] = requestType
	uuid = NewUUID()
	body, err = plist.MarshalIndent(Command{CommandUUID: uuid, Command: cmd}, "\t")
	if err != nil {
		return "", nil, fmt.Errorf("encode %s command: %w", requestType, err)
	}
	return uuid, body, nil
}

func integral(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = integral(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = integral(e)
		}
		return out
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	}
	return v
}

// NewUUID returns a random (version 4) UUID in upper case, as Apple writes them.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
