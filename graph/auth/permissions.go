package auth

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Wildcard grants every mdm.* permission: the administrators' token.
const Wildcard = "mdm.*"

// Permissions use Zentral's names so people moving from Zentral keep their mental model.
const (
	ViewEnrolledDevice   = "mdm.view_enrolleddevice"
	ChangeEnrolledDevice = "mdm.change_enrolleddevice"
	AddDeviceCommand     = "mdm.add_devicecommand"
	ViewDeviceCommand    = "mdm.view_devicecommand"
	ViewFileVaultPRK     = "mdm.view_filevault_prk"
	ViewRecoveryPassword = "mdm.view_recovery_password"
	ViewLockPIN          = "mdm.view_lock_pin"
	// ViewActivationLockBypassCode reads ActivationLockBypassCode answers:
	// the code lifts Activation Lock from the device.
	ViewActivationLockBypassCode = "mdm.view_activation_lock_bypass_code"
	ViewBlueprint                = "mdm.view_blueprint"
	AddBlueprint                 = "mdm.add_blueprint"
	ChangeBlueprint              = "mdm.change_blueprint"
	DeleteBlueprint              = "mdm.delete_blueprint"
	ViewAuditEvent               = "mdm.view_auditevent"
	ViewJob                      = "mdm.view_job"
	// ViewAPIToken lists API token records (never the tokens), ChangeAPIToken
	// creates and revokes tokens over GraphQL.
	ViewAPIToken   = "mdm.view_apitoken"
	ChangeAPIToken = "mdm.change_apitoken"
)

// known lists every permission a token may carry. Features add theirs here.
var known = []string{
	ViewEnrolledDevice, ChangeEnrolledDevice, AddDeviceCommand, ViewDeviceCommand,
	ViewFileVaultPRK, ViewRecoveryPassword, ViewLockPIN, ViewActivationLockBypassCode, ViewBlueprint, AddBlueprint, ViewAuditEvent, ViewJob,
	ChangeBlueprint, DeleteBlueprint, ViewAPIToken, ChangeAPIToken,
	// Enrollments, push certificates, DEP, Apps & Books and software updates.
	"mdm.view_otaenrollment", "mdm.add_otaenrollment", "mdm.delete_otaenrollment",
	"mdm.view_pushcertificate", "mdm.add_pushcertificate", "mdm.change_pushcertificate",
	"mdm.view_depvirtualserver", "mdm.change_depvirtualserver", "mdm.view_depdevice",
	"mdm.change_depdevice", "mdm.view_depenrollment", "mdm.add_depenrollment",
	"mdm.change_depenrollment", "mdm.delete_depenrollment",
	"mdm.view_location", "mdm.add_location", "mdm.change_location", "mdm.delete_location",
	"mdm.view_locationasset", "mdm.change_locationasset",
	"mdm.view_softwareupdate", "mdm.change_softwareupdate",
	"mdm.change_softwareupdateenforcement", "mdm.delete_softwareupdateenforcement",
	"mdm.delete_enrolleddevice",
	// Profile library and what blueprints deliver.
	"mdm.view_profile", "mdm.add_profile", "mdm.change_profile", "mdm.delete_profile",
}

// Known reports whether a permission name exists (the wildcard included).
func Known(p string) bool { return p == Wildcard || slices.Contains(known, p) }

// KnownPermissions lists every permission name, for help texts.
func KnownPermissions() []string { return slices.Clone(known) }

// ValidatePermissions refuses unknown names, so a typo never creates a token
// that silently cannot do what its owner expects.
func ValidatePermissions(perms []string) error {
	if len(perms) == 0 {
		return fmt.Errorf("at least one permission is required (one of: %s, or %s)", strings.Join(known, ", "), Wildcard)
	}
	for _, p := range perms {
		if !Known(p) {
			return fmt.Errorf("unknown permission %q", p)
		}
	}
	return nil
}

// Principal is the caller a request runs for.
type Principal struct {
	Subject     string
	TokenID     string
	Permissions []string
	// ExpiresAt is when the token stops being accepted.
	ExpiresAt time.Time
}

// Has reports whether the principal holds a permission.
func (p *Principal) Has(perm string) bool {
	if p == nil {
		return false
	}
	for _, held := range p.Permissions {
		if held == perm || (held == Wildcard && strings.HasPrefix(perm, "mdm.")) {
			return true
		}
	}
	return false
}

// Actor names the principal in audit events.
func (p *Principal) Actor() string {
	if p == nil {
		return "anonymous"
	}
	return "token:" + p.Subject + ":" + p.TokenID
}
