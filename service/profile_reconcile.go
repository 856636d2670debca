package service

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

// ProfileSigner returns the certificate and key orchard signs the profiles
// it sends with (the embedded SCEP CA's, as enrollment profiles are).
type ProfileSigner func(ctx context.Context) (*x509.Certificate, crypto.PrivateKey, error)

// profileLockClass is the first key of the advisory lock that serializes
// reconciles of one blueprint's devices, so two never queue the same install.
const profileLockClass = 0x6f72_6368 // "orch"

// ReconcileResult says what a reconcile queued.
type ReconcileResult struct {
	Installs int `json:"installs"`
	Removals int `json:"removals"`
}

// ReconcileProfiles queues, for the devices in scope, InstallProfile for
// what their blueprint lists and they lack (or have in an older version) and
// RemoveProfile for what orchard installed and the blueprint no longer lists,
// never while a command for that profile is pending on the device.
func (s *Service) ReconcileProfiles(ctx context.Context, actor string, scope store.ProfileScope) (ReconcileResult, error) {
	var res ReconcileResult
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		if err := lockReconcile(ctx, q, scope); err != nil {
			return err
		}
		if err := q.ForgetRemovedProfiles(ctx, scope); err != nil {
			return err
		}
		installs, err := q.ProfileInstallsNeeded(ctx, scope)
		if err != nil {
			return err
		}
		removals, err := q.ProfileRemovalsNeeded(ctx, scope)
		if err != nil || len(installs)+len(removals) == 0 {
			return err
		}
		cmds, sent, err := s.profileCommands(ctx, q, actor, installs, removals)
		if err != nil {
			return err
		}
		if err := q.QueueCommands(ctx, cmds); err != nil {
			return err
		}
		if err := q.RecordDeviceProfiles(ctx, sent); err != nil {
			return err
		}
		res = ReconcileResult{Installs: len(installs), Removals: len(removals)}
		if err := s.audit(ctx, q, actor, reconcileEvent(scope, res)); err != nil {
			return err
		}
		return s.pushInTx(ctx, q, deviceIDsOf(cmds))
	})
	return res, err
}

func lockReconcile(ctx context.Context, q *store.Queries, scope store.ProfileScope) error {
	if scope.BlueprintID != nil {
		_, err := q.PgxTx().Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", profileLockClass, int32(*scope.BlueprintID))
		return err
	}
	// The devices' blueprints (0 for none), each locked once and in order,
	// so that two reconciles never wait on each other's locks.
	_, err := q.PgxTx().Exec(ctx, `SELECT pg_advisory_xact_lock($1, k) FROM (SELECT DISTINCT
		coalesce(blueprint_id, 0)::int4 AS k FROM enrolled_devices WHERE id = ANY($2) ORDER BY k) keys`,
		profileLockClass, scope.DeviceIDs)
	return err
}

// profileCommands builds the commands a reconcile queues; each profile is
// opened, signed and encoded once, whatever the number of devices.
func (s *Service) profileCommands(ctx context.Context, q *store.Queries, actor string, installs []store.ProfileInstall,
	removals []store.ProfileRemoval) ([]store.QueuedCommand, []store.DeviceProfileSent, error) {
	templates := map[int64]*mdmproto.CommandTemplate{}
	cmds := make([]store.QueuedCommand, 0, len(installs)+len(removals))
	sent := make([]store.DeviceProfileSent, 0, cap(cmds))
	for _, in := range installs {
		tmpl, ok := templates[in.ProfileID]
		if !ok {
			payload, err := s.signedProfile(ctx, q, in.ProfileID)
			if err != nil {
				return nil, nil, err
			}
			if tmpl, err = mdmproto.NewCommandTemplate("InstallProfile", map[string]any{"Payload": payload}); err != nil {
				return nil, nil, err
			}
			templates[in.ProfileID] = tmpl
		}
		uuid, body := tmpl.Build()
		profileID := in.ProfileID
		cmds = append(cmds, store.QueuedCommand{DeviceID: in.DeviceID, UUID: uuid, RequestType: "InstallProfile", Body: body, Actor: actor})
		sent = append(sent, store.DeviceProfileSent{DeviceID: in.DeviceID, Identifier: in.Identifier, ProfileID: &profileID,
			Hash: in.Hash, CommandUUID: uuid})
	}
	for _, rm := range removals {
		uuid, body, err := mdmproto.NewCommand("RemoveProfile", map[string]any{"Identifier": rm.Identifier})
		if err != nil {
			return nil, nil, err
		}
		cmds = append(cmds, store.QueuedCommand{DeviceID: rm.DeviceID, UUID: uuid, RequestType: "RemoveProfile", Body: body, Actor: actor})
		sent = append(sent, store.DeviceProfileSent{DeviceID: rm.DeviceID, Identifier: rm.Identifier, Hash: "", CommandUUID: uuid, Removing: true})
	}
	return cmds, sent, nil
}

// signedProfile is a library profile as orchard sends it: CMS SignedData
// over the plist, signed with orchard's certificate.
func (s *Service) signedProfile(ctx context.Context, q *store.Queries, id int64) ([]byte, error) {
	if s.profileSigner == nil {
		return nil, errors.New("no profile signer configured: profiles cannot be sent unsigned")
	}
	content, err := q.ProfileContent(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("profile %d: %w", id, err)
	}
	cert, key, err := s.profileSigner(ctx)
	if err != nil {
		return nil, fmt.Errorf("profile signer: %w", err)
	}
	return mdmproto.SignAttached(content, cert, key)
}

func reconcileEvent(scope store.ProfileScope, res ReconcileResult) event {
	data := map[string]any{"installs": res.Installs, "removals": res.Removals}
	ev := event{action: "profile.reconcile", data: data}
	switch {
	case scope.BlueprintID != nil:
		ev.objectType, ev.objectID = "blueprint", idString(*scope.BlueprintID)
	case len(scope.DeviceIDs) == 1:
		ev.objectType, ev.objectID = "enrolled_device", idString(scope.DeviceIDs[0])
	default:
		// Devices an assignment moved: up to a thousand ids, in the data
		// rather than the indexed object id.
		ev.objectType = "enrolled_device"
		data["device_ids"] = scope.DeviceIDs
	}
	return ev
}

func deviceIDsOf(cmds []store.QueuedCommand) []int64 {
	ids := make([]int64, 0, len(cmds))
	for _, c := range cmds {
		ids = append(ids, c.DeviceID)
	}
	return ids
}

// profileReportHook queues a reconcile of a device that answered a
// ProfileList: its answer may show a profile removed behind orchard's back.
// It runs on every report, so it costs nothing for the others: only a report
// holding a ProfileList key is looked up.
func (s *Service) profileReportHook(ctx context.Context, q *store.Queries, ch mdmproto.Channel, r mdmproto.CommandResult) error {
	// A service built without a job client (some edges' tests) has no one
	// to run the reconcile.
	if r.Status != mdmproto.StatusAcknowledged || ch.UserID != "" || s.jobs == nil ||
		!bytes.Contains(r.Raw, []byte("<key>ProfileList</key>")) {
		return nil
	}
	id, err := q.AnsweredProfileList(ctx, ch.DeviceID(), r.CommandUUID)
	if err != nil || id == 0 {
		return err
	}
	// In the report's transaction: the reconcile is queued exactly when the
	// answer it reads is stored.
	_, err = s.jobs.InsertTx(ctx, q.PgxTx(), jobargs.ProfileReconcile{DeviceIDs: []int64{id}}, nil)
	return err
}
