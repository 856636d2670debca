package service

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

// maxInventoryItems bounds the rows one list answer stores; the endpoint
// already bounds the body, this bounds what a hostile device makes us keep.
const maxInventoryItems = 20000

// answerHandler acts on a stored answer of one request type, in the
// report's transaction; answer is the report's JSON (mdmproto.DecodeReport).
type answerHandler func(s *Service, ctx context.Context, q *store.Queries, c store.CommandRef, status string, answer []byte) error

// answerHandlers are the request types whose answers orchard acts on. Every
// other answer is only stored, in one statement (store.QuickReport).
var answerHandlers = map[string]answerHandler{
	// DeviceInformation's facts and inventory mark are applied by
	// store.QuickReport itself when reportPlan read its facts first.
	"DeviceInformation": onAcknowledged(func(_ *Service, ctx context.Context, q *store.Queries, c store.CommandRef, _ []byte) error {
		return q.MarkInventoryUpdated(ctx, c.DeviceID)
	}),
	"InstalledApplicationList": onAcknowledged((*Service).storeInstalledApplications),
	"CertificateList":          onAcknowledged((*Service).storeCertificates),
	"ProfileList":              onAcknowledged((*Service).storeProfiles),
	"SecurityInfo":             onAcknowledged((*Service).escrowFromSecurityInfo),
	"SetRecoveryLock":          (*Service).recoveryPasswordAnswered,
	"SetFirmwarePassword":      (*Service).recoveryPasswordAnswered,
	"RotateFileVaultKey":       (*Service).rotationAnswered,
	"DeviceConfigured": onAcknowledged(func(_ *Service, ctx context.Context, q *store.Queries, c store.CommandRef, _ []byte) error {
		return q.SetAwaitingConfiguration(ctx, c.DeviceID, false)
	}),
}

// processResult acts on an answer once stored. An answer orchard cannot
// read is logged and left as stored: the device is not asked again at once
// (no retry storm); the next inventory run asks anew.
func (s *Service) processResult(ctx context.Context, q *store.Queries, c store.CommandRef, r mdmproto.CommandResult) error {
	if h := answerHandlers[c.RequestType]; h != nil {
		return h(s, ctx, q, c, r.Status, r.JSON)
	}
	return nil
}

// onAcknowledged is a handler of Acknowledged answers only.
func onAcknowledged(h func(s *Service, ctx context.Context, q *store.Queries, c store.CommandRef, answer []byte) error) answerHandler {
	return func(s *Service, ctx context.Context, q *store.Queries, c store.CommandRef, status string, answer []byte) error {
		if status != mdmproto.StatusAcknowledged {
			return nil
		}
		return h(s, ctx, q, c, answer)
	}
}

// failed tells an answer that the command did not run.
func failed(status string) bool {
	return status == mdmproto.StatusError || status == mdmproto.StatusCommandFormatError
}

// recoveryPasswordAnswered makes a pending recovery password the device's
// once acknowledged, and drops it when refused.
func (s *Service) recoveryPasswordAnswered(ctx context.Context, q *store.Queries, c store.CommandRef, status string, _ []byte) error {
	switch {
	case status == mdmproto.StatusAcknowledged:
		return q.PromotePendingRecoveryPassword(ctx, c.DeviceID)
	case failed(status):
		return q.DropPendingRecoveryPassword(ctx, c.DeviceID, c.RequestType+" answered "+status)
	}
	return nil
}

// rotationAnswered escrows the rotated FileVault key, or records why not.
func (s *Service) rotationAnswered(ctx context.Context, q *store.Queries, c store.CommandRef, status string, answer []byte) error {
	switch {
	case status == mdmproto.StatusAcknowledged:
		return s.escrowFromRotation(ctx, q, c, answer)
	case failed(status):
		return q.SetSecretError(ctx, c.DeviceID, "RotateFileVaultKey answered "+status+": the escrowed key is unchanged")
	}
	return nil
}

func (s *Service) storeInstalledApplications(ctx context.Context, q *store.Queries, c store.CommandRef, answer []byte) error {
	var a struct{ InstalledApplicationList []installedApp }
	if !s.decodeAnswer(ctx, c, answer, &a) {
		return nil
	}
	list := a.InstalledApplicationList[:min(len(a.InstalledApplicationList), maxInventoryItems)]
	apps := make([]store.InstalledApplication, 0, len(list))
	for _, x := range list {
		apps = append(apps, x.stored())
	}
	return q.ReplaceInstalledApplications(ctx, c.DeviceID, apps)
}

func (s *Service) storeCertificates(ctx context.Context, q *store.Queries, c store.CommandRef, answer []byte) error {
	var a struct{ CertificateList []store.DeviceCertificate }
	if !s.decodeAnswer(ctx, c, answer, &a) {
		return nil
	}
	return q.ReplaceDeviceCertificates(ctx, c.DeviceID, a.CertificateList[:min(len(a.CertificateList), maxInventoryItems)])
}

func (s *Service) storeProfiles(ctx context.Context, q *store.Queries, c store.CommandRef, answer []byte) error {
	var a struct{ ProfileList []reportedProfile }
	if !s.decodeAnswer(ctx, c, answer, &a) {
		return nil
	}
	list := a.ProfileList[:min(len(a.ProfileList), maxInventoryItems)]
	profiles := make([]store.DeviceProfile, 0, len(list))
	for _, p := range list {
		profiles = append(profiles, store.DeviceProfile{Identifier: p.PayloadIdentifier, UUID: p.PayloadUUID,
			DisplayName: p.PayloadDisplayName, Organization: p.PayloadOrganization, IsManaged: p.IsManaged,
			IsEncrypted: p.IsEncrypted})
	}
	if err := q.ReplaceDeviceProfiles(ctx, c.DeviceID, profiles); err != nil {
		return err
	}
	// The whole list, not the stored part of it: the escrow profile may lie
	// past maxInventoryItems.
	escrowListed := slices.ContainsFunc(a.ProfileList, func(p reportedProfile) bool {
		return p.PayloadIdentifier == EscrowProfileIdentifier
	})
	return s.reinstallEscrowProfileInTx(ctx, q, c.DeviceID, escrowListed)
}

// decodeAnswer reads an answer's JSON; false (logged) when it does not decode.
func (s *Service) decodeAnswer(ctx context.Context, c store.CommandRef, answer []byte, v any) bool {
	if err := json.Unmarshal(answer, v); err != nil {
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
