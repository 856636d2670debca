package mdmproto

import (
	"maps"
	"slices"
)

// Which commands and answers carry secrets, from Apple's device-management
// schemas (mdm/commands/*.yaml). Storage seals these and nothing else: most
// commands and answers are inventory that operators query freely.

// commandSecrets are the request types whose command may hold a secret, with
// the keys that do (for the reader; the whole command is sealed).
var commandSecrets = map[string]string{
	"DeviceLock":                   "PIN",
	"EraseDevice":                  "PIN",
	"SetRecoveryLock":              "CurrentPassword, NewPassword",
	"VerifyRecoveryLock":           "Password",
	"SetFirmwarePassword":          "CurrentPassword, NewPassword",
	"VerifyFirmwarePassword":       "Password",
	"ClearPasscode":                "UnlockToken",
	"SetAutoAdminPassword":         "passwordHash (a salted hash still opens to a dictionary attack)",
	"RequestMirroring":             "Password",
	"RotateFileVaultKey":           "FileVaultUnlock: Password, PrivateKeyExport, PrivateKeyExportPassword",
	"InstallProfile":               "Payload: profiles carry Wi-Fi/VPN/account passwords and PKCS #12 identities",
	"InstallApplication":           "Configuration: managed app configuration often holds tokens",
	"InstallEnterpriseApplication": "Configuration, as InstallApplication",
	"Settings":                     "ApplicationConfiguration, as InstallApplication",
}

// resultSecrets are the request types whose answer may hold a secret. Not
// sealed, on purpose: DeviceInformation (its PushToken is useless without the
// push certificate's key, and it is stored unsealed for pushes anyway),
// CertificateList (public certificates only), ProfileList (profile metadata,
// never payload contents), InstalledApplicationList and other inventory, and
// DeviceLocation (private, but guarded by its own permission, not a credential).
var resultSecrets = map[string]string{
	"SecurityInfo":                    "FDE_PersonalRecoveryKeyCMS: the escrowed FileVault recovery key",
	"RotateFileVaultKey":              "RotateResult.EncryptedNewRecoveryKey",
	"ManagedApplicationConfiguration": "ApplicationConfigurations: what InstallApplication set, tokens included",
	"ManagedApplicationList":          "UnusedRedemptionCode: an app purchase code",
	"ActivationLockBypassCode":        "ActivationLockBypassCode: lifts Activation Lock",
}

// CommandCarriesSecret reports whether a command of this request type may
// hold a secret, so its plist must be sealed at rest and dropped once answered.
func CommandCarriesSecret(requestType string) bool {
	_, ok := commandSecrets[requestType]
	return ok
}

// ResultCarriesSecret reports whether an answer to this request type may hold
// a secret, so it must be sealed at rest.
func ResultCarriesSecret(requestType string) bool {
	_, ok := resultSecrets[requestType]
	return ok
}

// ResultSecretTypes lists the request types whose answers are sealed.
func ResultSecretTypes() []string {
	return slices.Sorted(maps.Keys(resultSecrets))
}
