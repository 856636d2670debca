package service

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/cmdschema"
	"github.com/orchardmdm/orchard/store"
)

// DedicatedMutations are the request types only their own operations queue
// (LockDevice, EraseDevice): a generic enqueue would skip their permission
// and the PIN check and generation.
var DedicatedMutations = map[string]string{"DeviceLock": "lockDevice", "EraseDevice": "eraseDevice",
	"SetRecoveryLock": "setRecoveryPassword", "SetFirmwarePassword": "setRecoveryPassword",
	// Its answer is escrowed only when encrypted to orchard's certificate: a rotation to
	// any other would leave the escrowed key stale.
	"RotateFileVaultKey": "rotateFileVaultKey"}

// EnqueueableRequestTypes are the request types EnqueueCommand accepts: those
// with Apple's schema to check their payload against.
func EnqueueableRequestTypes() []string {
	var out []string
	for _, t := range mdmproto.KnownRequestTypes {
		if _, dedicated := DedicatedMutations[t]; !dedicated && cmdschema.Known(t) {
			out = append(out, t)
		}
	}
	return out
}

// commandAction is a command to queue once the device is known: its
// payload, and the PIN to seal ("" for none).
type commandAction struct {
	requestType string
	// audit is the action recorded; its data names the command, never a PIN.
	audit string
	build func(d *store.Device) (payload map[string]any, pin string, err error)
	// buildInTx, when set, replaces build: for payloads that read or store
	// something in the queueing transaction (a sealed recovery password).
	buildInTx func(ctx context.Context, q *store.Queries, d *store.Device) (map[string]any, error)
}

// EnqueueCommand validates and queues any known command but the dedicated ones.
func (s *Service) EnqueueCommand(ctx context.Context, actor string, deviceID int64, requestType string, payload map[string]any) (store.DeviceCommand, error) {
	if mutation, ok := DedicatedMutations[requestType]; ok {
		return store.DeviceCommand{}, invalid("%s has its own mutation, %s, with its own permission and sealed secret", requestType, mutation)
	}
	if !mdmproto.KnownRequestType(requestType) {
		return store.DeviceCommand{}, invalid("unknown request type %q (see deviceCommandRequestTypes)", requestType)
	}
	if !cmdschema.Known(requestType) {
		return store.DeviceCommand{}, invalid("request type %q has no published schema to check its payload against", requestType)
	}
	// Checked before the device is: a payload that can never be right is
	// the caller's to fix whatever the device.
	payload, err := cmdschema.Convert(requestType, payload)
	if err != nil {
		return store.DeviceCommand{}, invalid("payload: %s", err)
	}
	return s.queueCommand(ctx, actor, deviceID, commandAction{requestType: requestType, audit: "device_command.create",
		build: func(*store.Device) (map[string]any, string, error) { return payload, "", nil }})
}

// queueCommand queues a command in one transaction: the device row locked
// while its state is checked, the command with its sealed PIN, one audit
// event and the push. A second lock or erase while one is pending is queued
// too: each keeps its own PIN, so whichever the device runs, its PIN is on
// that command.
func (s *Service) queueCommand(ctx context.Context, actor string, deviceID int64, a commandAction) (store.DeviceCommand, error) {
	var c store.DeviceCommand
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		var err error
		c, err = s.queueCommandInTx(ctx, q, actor, deviceID, a)
		return err
	})
	return c, err
}

// queueCommandInTx is queueCommand in the caller's transaction, for
// operations that queue several commands at once (a device's setup).
func (s *Service) queueCommandInTx(ctx context.Context, q *store.Queries, actor string, deviceID int64, a commandAction) (store.DeviceCommand, error) {
	var c store.DeviceCommand
	d, err := q.DeviceForUpdate(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return c, notFound("no device with id %d", deviceID)
	} else if err != nil {
		return c, err
	}
	switch {
	case d.BlockedAt != nil:
		return c, invalid("device %d is blocked: unblock it before sending %s", deviceID, a.requestType)
	case d.CheckoutAt != nil:
		return c, invalid("device %d has checked out of management: it cannot receive %s", deviceID, a.requestType)
	}
	payload, pin, err := a.payload(ctx, q, &d)
	if err != nil {
		return c, err
	}
	uuid, body, err := mdmproto.NewCommand(a.requestType, payload)
	if err != nil {
		return c, invalid("%s", err)
	}
	c, err = q.QueueCommand(ctx, store.QueuedCommand{DeviceID: deviceID, UUID: uuid,
		RequestType: a.requestType, Body: body, PIN: pin, Actor: actor})
	if err != nil {
		return c, err
	}
	s.publishAfterCommit(ctx, q, commandStatusEvent(c.ID, deviceID, c.RequestType, c.Status))
	if err := s.audit(ctx, q, actor, commandEvent(a, &d, uuid, payload, pin != "")); err != nil {
		return c, err
	}
	return c, s.pushInTx(ctx, q, []int64{deviceID})
}

// payload builds the command's payload: with the transaction when the
// action needs it (buildInTx), else from the device alone (build).
func (a commandAction) payload(ctx context.Context, q *store.Queries, d *store.Device) (map[string]any, string, error) {
	if a.buildInTx != nil {
		p, err := a.buildInTx(ctx, q, d)
		return p, "", err
	}
	return a.build(d)
}

// commandEvent records a queued command: the device, the command and the
// options it carries (their names, never a PIN or a password).
func commandEvent(a commandAction, d *store.Device, uuid string, payload map[string]any, pinStored bool) event {
	if a.audit == "device_command.create" {
		return event{action: a.audit, objectType: "device_command", objectID: uuid,
			data: map[string]any{"device_id": d.ID, "request_type": a.requestType}}
	}
	keys := make([]string, 0, len(payload))
	for k := range payload {
		if k != "PIN" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return event{action: a.audit, objectType: "enrolled_device", objectID: idString(d.ID),
		data: map[string]any{"udid": d.UDID, "serial_number": d.SerialNumber, "command_uuid": uuid,
			"options": keys, "pin_stored": pinStored}}
}

// CancelCommand cancels a command the device has not been sent yet.
func (s *Service) CancelCommand(ctx context.Context, actor, uuid string) (store.DeviceCommand, error) {
	uuid = strings.TrimSpace(uuid)
	var c store.DeviceCommand
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		var err error
		c, err = q.CancelCommand(ctx, uuid)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return notFound("no command with uuid %s", uuid)
		case errors.Is(err, store.ErrCommandFinished):
			return invalid("command %s was already sent or finished: it cannot be cancelled", uuid)
		case err != nil:
			return err
		}
		return s.audit(ctx, q, actor, event{action: "device_command.cancel", objectType: "device_command", objectID: uuid,
			data: map[string]any{"device_id": c.DeviceID, "request_type": c.RequestType}})
	})
	return c, err
}

// RevealCommandSecret opens a command's sealed PIN or answer and records the
// reveal in the audit trail before returning it; nil when there is none.
func (s *Service) RevealCommandSecret(ctx context.Context, actor string, c *store.DeviceCommand, column string) ([]byte, error) {
	var secret []byte
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		var err error
		secret, err = q.OpenCommandSecret(ctx, c.UUID, column)
		if err != nil || secret == nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "device_command.reveal_secret", objectType: "device_command",
			objectID: c.UUID, data: map[string]any{"secret": column, "device_id": c.DeviceID, "request_type": c.RequestType}})
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return secret, err
}
