package service

import (
	"context"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

// maxInventoryItems bounds the rows one list answer stores; the endpoint
// already bounds the body, this bounds what a hostile device makes us keep.
const maxInventoryItems = 20000

// processResult acts on an answer once stored. An answer orchard cannot
// read is logged and left as stored: the device is not asked again at once
// (no retry storm); the next inventory run asks anew.
func (s *Service) processResult(ctx context.Context, q *store.Queries, c store.CommandRef, r mdmproto.CommandResult) error {
	if r.Status == mdmproto.StatusAcknowledged {
		return s.processAcknowledged(ctx, q, c, r.Raw)
	}
	if r.Status == mdmproto.StatusError || r.Status == mdmproto.StatusCommandFormatError {
		switch c.RequestType {
		case "SetRecoveryLock", "SetFirmwarePassword":
			return q.DropPendingRecoveryPassword(ctx, c.DeviceID, c.RequestType+" answered "+r.Status)
		case "RotateFileVaultKey":
			return q.SetSecretError(ctx, c.DeviceID, "RotateFileVaultKey answered "+r.Status+": the escrowed key is unchanged")
		}
	}
	return nil
}

func (s *Service) processAcknowledged(ctx context.Context, q *store.Queries, c store.CommandRef, raw []byte) error {
	switch c.RequestType {
	case "DeviceInformation":
		return q.MarkInventoryUpdated(ctx, c.DeviceID)
	case "InstalledApplicationList":
		var a struct{ InstalledApplicationList []installedApp }
		if !s.decodeAnswer(ctx, c, raw, &a) {
			return nil
		}
		apps := make([]store.InstalledApplication, 0, min(len(a.InstalledApplicationList), maxInventoryItems))
		for _, x := range a.InstalledApplicationList[:min(len(a.InstalledApplicationList), maxInventoryItems)] {
			apps = append(apps, x.stored())
		}
		return q.ReplaceInstalledApplications(ctx, c.DeviceID, apps)
	case "CertificateList":
		var a struct{ CertificateList []store.DeviceCertificate }
		if !s.decodeAnswer(ctx, c, raw, &a) {
			return nil
		}
		return q.ReplaceDeviceCertificates(ctx, c.DeviceID, a.CertificateList[:min(len(a.CertificateList), maxInventoryItems)])
	case "ProfileList":
		var a struct{ ProfileList []reportedProfile }
		if !s.decodeAnswer(ctx, c, raw, &a) {
			return nil
		}
		profiles := make([]store.DeviceProfile, 0, min(len(a.ProfileList), maxInventoryItems))
		for _, p := range a.ProfileList[:min(len(a.ProfileList), maxInventoryItems)] {
			profiles = append(profiles, store.DeviceProfile{Identifier: p.PayloadIdentifier, UUID: p.PayloadUUID,
				DisplayName: p.PayloadDisplayName, Organization: p.PayloadOrganization, IsManaged: p.IsManaged,
				IsEncrypted: p.IsEncrypted})
		}
		return q.ReplaceDeviceProfiles(ctx, c.DeviceID, profiles)
	case "SetRecoveryLock", "SetFirmwarePassword":
		return q.PromotePendingRecoveryPassword(ctx, c.DeviceID)
	case "SecurityInfo":
		return s.escrowFromSecurityInfo(ctx, q, c, raw)
	case "RotateFileVaultKey":
		return s.escrowFromRotation(ctx, q, c, raw)
	case "DeviceConfigured":
		return q.SetAwaitingConfiguration(ctx, c.DeviceID, false)
	}
	return nil
}

// decodeAnswer reads an answer; false (logged) when it does not decode.
func (s *Service) decodeAnswer(ctx context.Context, c store.CommandRef, raw []byte, v any) bool {
	if err := mdmproto.UnmarshalPlist(raw, v); err != nil {
		s.log.WarnContext(ctx, "device answer not understood; stored as sent", "device_id", c.DeviceID,
			"request_type", c.RequestType, "err", err)
		return false
	}
	return true
}

// installedApp is an InstalledApplicationList item (Apple's keys).
type installedApp struct {
	Identifier, Name, Version, ShortVersion string
	BundleSize                              *int64
}

func (a installedApp) stored() store.InstalledApplication {
	out := store.InstalledApplication{Identifier: a.Identifier, Name: a.Name, Version: a.Version, ShortVersion: a.ShortVersion}
	if a.BundleSize != nil {
		size := float64(*a.BundleSize)
		out.BundleSize = &size
	}
	return out
}

// reportedProfile is a ProfileList item (Apple's keys).
type reportedProfile struct {
	PayloadIdentifier, PayloadUUID, PayloadDisplayName, PayloadOrganization string
	IsManaged                                                               *bool
	IsEncrypted                                                             bool
}
