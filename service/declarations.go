package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/ddm"
	"github.com/orchardmdm/orchard/mdmproto/swupdate"
	"github.com/orchardmdm/orchard/store"
)

// Identifiers of the declarations orchard makes for every blueprint.
const (
	managementPropertiesID = "orchard.management.properties"
	statusSubscriptionsID  = "orchard.status-subscriptions"
	activationID           = "orchard.activation.blueprint"
	legacyPrefix           = "orchard.legacy."
)

// DeclarativeManagement answers a DeclarativeManagement check-in: the
// tokens, the declaration items, one declaration, or a status report.
func (s *Service) DeclarativeManagement(ctx context.Context, ch mdmproto.Channel, endpoint string, data []byte) ([]byte, error) {
	req, err := ddm.ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	d, err := s.store.DeclarativeDevice(ctx, ch)
	if err != nil {
		return nil, err
	}
	if req.Endpoint == ddm.EndpointStatus {
		return nil, s.saveStatus(ctx, d.ID, data)
	}
	decls, err := s.declarations(ctx, s.store.Queries, d.BlueprintID, d.BlueprintName)
	if err != nil {
		return nil, err
	}
	if decls, err = s.withSoftwareUpdate(ctx, decls, d, time.Now()); err != nil {
		return nil, err
	}
	switch req.Endpoint {
	case ddm.EndpointTokens:
		return json.Marshal(tokens(decls, d.ChangedAt))
	case ddm.EndpointDeclarationItems:
		return json.Marshal(ddm.Items(decls))
	}
	for _, decl := range decls {
		if decl.Kind() == req.Kind && decl.Identifier == req.Identifier {
			return json.Marshal(decl)
		}
	}
	return nil, fmt.Errorf("%w: %s/%s", ddm.ErrUnknownDeclaration, req.Kind, req.Identifier)
}

// saveStatus stores a status report: its declaration statuses, and what it
// says of the device (OS, software update; the blueprint's declarations
// subscribe to those items). A report that does not parse stores nothing.
func (s *Service) saveStatus(ctx context.Context, deviceID int64, data []byte) error {
	r, err := ddm.ParseStatusReport(data)
	if err != nil {
		return err
	}
	device, err := r.Device()
	if err != nil {
		return err
	}
	return s.store.Tx(ctx, func(q *store.Queries) error {
		if r.Reported {
			if err := q.SaveDeclarationStatus(ctx, deviceID, r.FullReport, r.Declarations); err != nil {
				return err
			}
		}
		return q.SaveDeviceStatus(ctx, deviceID, device)
	})
}

// ProfileAsset is a library profile as a device fetches it for a legacy
// declaration: signed by orchard, only if the device's blueprint lists it.
func (s *Service) ProfileAsset(ctx context.Context, certHash []byte, profileID int64) ([]byte, error) {
	deviceID, err := s.store.DeviceByIdentity(ctx, certHash)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.ProfileForDevice(ctx, deviceID, profileID); errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: profile %d", ddm.ErrUnknownDeclaration, profileID)
	} else if err != nil {
		return nil, err
	}
	return s.signedProfile(ctx, s.store.Queries, profileID)
}

// declarations are what a blueprint declares: its management properties,
// a legacy-profile configuration per profile, and one activation of them all.
func (s *Service) declarations(ctx context.Context, q *store.Queries, blueprintID *int64, name string) ([]ddm.Declaration, error) {
	props := map[string]any{"orchard.blueprint": name}
	var profiles []store.Profile
	if blueprintID != nil {
		var err error
		if profiles, err = q.BlueprintProfiles(ctx, *blueprintID); err != nil {
			return nil, err
		}
		props["orchard.blueprint_id"] = *blueprintID
	}
	decls := []ddm.Declaration{ddm.NewDeclaration("com.apple.management.properties", managementPropertiesID, props),
		ddm.StatusSubscriptions(statusSubscriptionsID)}
	configs := []string{statusSubscriptionsID}
	for _, p := range profiles {
		id := legacyPrefix + p.Identifier
		url := fmt.Sprintf("%s%s%d?v=%s", s.publicURL, ddm.ProfileAssetPath, p.ID, p.Hash)
		decls = append(decls, ddm.NewDeclaration("com.apple.configuration.legacy", id, map[string]any{"ProfileURL": url}))
		configs = append(configs, id)
	}
	return append(decls, ddm.NewDeclaration("com.apple.activation.simple", activationID,
		map[string]any{"StandardConfigurations": configs})), nil
}

func tokens(decls []ddm.Declaration, changedAt time.Time) ddm.TokensResponse {
	return ddm.TokensResponse{SyncTokens: ddm.SyncTokens{DeclarationsToken: ddm.Items(decls).DeclarationsToken,
		Timestamp: changedAt.UTC().Truncate(time.Second)}}
}

// blueprintsChanged is called in the transaction of a change to what these
// blueprints deliver: their declarations get a new token, and each of their
// devices one DeclarativeManagement command carrying it.
func (s *Service) blueprintsChanged(ctx context.Context, q *store.Queries, blueprintIDs []int64) error {
	if len(blueprintIDs) == 0 {
		return nil
	}
	if err := q.TouchBlueprintDeclarations(ctx, blueprintIDs); err != nil {
		return err
	}
	found, err := q.BlueprintsByIDs(ctx, blueprintIDs)
	if err != nil {
		return err
	}
	var cmds []store.QueuedCommand
	for _, b := range found {
		if b == nil {
			continue
		}
		more, err := s.syncCommands(ctx, q, b)
		if err != nil {
			return err
		}
		cmds = append(cmds, more...)
	}
	return s.queueAndPushInTx(ctx, q, cmds)
}

// SyncBlueprintDeclarations tells every device of a blueprint (those that
// may speak declarative management) to sync its declarations now, and
// returns how many were told: after an upgrade of orchard that changed what
// blueprints declare, or to have devices report their status again.
func (s *Service) SyncBlueprintDeclarations(ctx context.Context, actor string, blueprintID int64) (int, error) {
	var n int
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		b, err := q.Blueprint(ctx, blueprintID)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no blueprint with id %d", blueprintID)
		} else if err != nil {
			return err
		}
		cmds, err := s.syncCommands(ctx, q, &b)
		if err != nil {
			return err
		}
		if err := s.queueAndPushInTx(ctx, q, cmds); err != nil {
			return err
		}
		n = len(cmds)
		return s.audit(ctx, q, actor, event{action: "blueprint.sync_declarations", objectType: "blueprint",
			objectID: idString(blueprintID), data: map[string]any{"devices": n}})
	})
	return n, err
}

// syncCommands builds one DeclarativeManagement command, with the
// blueprint's new synchronization tokens, per device of the blueprint that
// may speak declarative management.
func (s *Service) syncCommands(ctx context.Context, q *store.Queries, b *store.Blueprint) ([]store.QueuedCommand, error) {
	return s.syncCommandsFor(ctx, q, b, nil)
}

// syncCommandsFor is syncCommands for the blueprint's devices among ids
// (nil: all of them).
func (s *Service) syncCommandsFor(ctx context.Context, q *store.Queries, b *store.Blueprint, ids []int64) ([]store.QueuedCommand, error) {
	candidates, err := q.BlueprintDevices(ctx, b.ID, ids)
	if err != nil {
		return nil, err
	}
	var devices []int64
	for _, d := range candidates {
		if mayDeclare(d.Platform, d.OSVersion) {
			devices = append(devices, d.ID)
		}
	}
	if len(devices) == 0 {
		return nil, nil
	}
	decls, err := s.declarations(ctx, q, &b.ID, b.Name)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(tokens(decls, time.Now()))
	if err != nil {
		return nil, err
	}
	tmpl, err := mdmproto.NewCommandTemplate("DeclarativeManagement", map[string]any{"Data": data})
	if err != nil {
		return nil, err
	}
	cmds := make([]store.QueuedCommand, len(devices))
	for i, id := range devices {
		uuid, body := tmpl.Build()
		cmds[i] = store.QueuedCommand{DeviceID: id, UUID: uuid, RequestType: "DeclarativeManagement", Body: body, Actor: "blueprint"}
	}
	return cmds, nil
}

// declarativeSince is, per platform, the first OS version that takes the
// DeclarativeManagement command (Apple's mdm/commands/declarativemanagement.yaml).
var declarativeSince = map[string]string{"iOS": "15.0", "iPadOS": "15.0", "macOS": "13.0", "tvOS": "16.0",
	"visionOS": "1.1", "watchOS": "10.0"}

// mayDeclare is false for a device known to run an OS older than
// declarative management, which would only answer the command with an
// error; a device whose platform or version orchard does not know yet is
// sent it, and decides.
func mayDeclare(platform, osVersion string) bool {
	since, known := declarativeSince[platform]
	if _, ok := versionParts(osVersion); !known || !ok {
		return true
	}
	return !VersionBefore(osVersion, since)
}

// swupdatePrefix names the software update enforcement declaration.
const swupdatePrefix = "orchard.swupdate."

// withSoftwareUpdate adds to a device's declarations its blueprint's software
// update enforcement for the device's platform, with the target its model
// gets (latest minus N days is per model), activated with the rest. A device
// without such an enforcement, or whose model has no target, gets none.
func (s *Service) withSoftwareUpdate(ctx context.Context, decls []ddm.Declaration, d store.DeclarativeDevice, now time.Time) ([]ddm.Declaration, error) {
	if d.BlueprintID == nil || d.Platform == "" {
		return decls, nil
	}
	e, err := s.store.SoftwareUpdateEnforcement(ctx, *d.BlueprintID, d.Platform)
	if errors.Is(err, store.ErrNotFound) {
		return decls, nil
	} else if err != nil {
		return nil, err
	}
	t, ok, err := s.EnforcementTarget(ctx, e, d.CatalogIDs, now)
	if err != nil || !ok {
		return decls, err
	}
	su, err := swupdate.EnforcementDeclaration(swupdatePrefix+d.Platform, t)
	if err != nil {
		return nil, err
	}
	decl := ddm.Declaration{Type: su.Type, Identifier: su.Identifier, ServerToken: su.ServerToken, Payload: su.Payload}
	out := make([]ddm.Declaration, 0, len(decls)+1)
	for _, x := range decls {
		if x.Identifier == activationID {
			configs, _ := x.Payload["StandardConfigurations"].([]string)
			x = ddm.NewDeclaration(x.Type, x.Identifier, map[string]any{
				"StandardConfigurations": append(append([]string{}, configs...), decl.Identifier)})
		}
		out = append(out, x)
	}
	return append(out, decl), nil
}
