package graph

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

const commandCursor = "command"

// Store statuses are Apple's words; GraphQL's enum is upper snake case.
var commandStatuses = map[string]model.DeviceCommandStatus{
	"Queued": model.DeviceCommandStatusQueued, "Sent": model.DeviceCommandStatusSent,
	"Acknowledged": model.DeviceCommandStatusAcknowledged, "Error": model.DeviceCommandStatusError,
	"CommandFormatError": model.DeviceCommandStatusCommandFormatError, "NotNow": model.DeviceCommandStatusNotNow,
	"Cancelled": model.DeviceCommandStatusCancelled,
}

func commandStatus(c *store.DeviceCommand) model.DeviceCommandStatus {
	return commandStatuses[c.Status]
}

func storeStatus(s model.DeviceCommandStatus) string {
	for k, v := range commandStatuses {
		if v == s {
			return k
		}
	}
	return ""
}

// resultPermissions are what reading some answers needs beyond
// mdm.view_devicecommand: the answer reveals more than the command list.
// A RotateFileVaultKey answer is a FileVault recovery key.
var resultPermissions = map[string]string{"DeviceLocation": "mdm.view_location",
	"RotateFileVaultKey": "mdm.view_filevault_prk"}

func (r *Resolver) commandResult(ctx context.Context, c *store.DeviceCommand) (any, error) {
	if perm, ok := resultPermissions[c.RequestType]; ok && !auth.FromContext(ctx).Has(perm) {
		return nil, Forbidden("permission %s required to read a %s answer", perm, c.RequestType)
	}
	if !c.ResultSealed {
		return rawJSON(c.Result), nil
	}
	answer, err := r.revealCommandSecret(ctx, c, store.ResultColumn)
	if err != nil || answer == nil {
		return nil, err
	}
	return rawJSON(answer), nil
}

func (r *Resolver) commandPIN(ctx context.Context, c *store.DeviceCommand) (*string, error) {
	if !c.HasPIN {
		return nil, nil
	}
	pin, err := r.revealCommandSecret(ctx, c, store.PINColumn)
	if err != nil || pin == nil {
		return nil, err
	}
	s := string(pin)
	return &s, nil
}

// revealCommandSecret opens a command's sealed PIN or answer and records the
// reveal in the audit trail before returning it.
func (r *Resolver) revealCommandSecret(ctx context.Context, c *store.DeviceCommand, column string) ([]byte, error) {
	var secret []byte
	err := r.Store.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		secret, err = r.Store.OpenCommandSecret(ctx, tx, c.UUID, column)
		if err != nil || secret == nil {
			return err
		}
		return store.WriteAudit(ctx, tx, store.AuditEvent{Actor: auth.FromContext(ctx).Actor(),
			Action: "device_command.reveal_secret", ObjectType: "device_command", ObjectID: c.UUID,
			Data: map[string]any{"secret": column, "device_id": c.DeviceID, "request_type": c.RequestType}})
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return secret, err
}

// rawJSON hands stored JSON to gqlgen as is; nil stays null.
func rawJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return json.RawMessage(b)
}

func (r *Resolver) deviceCommands(ctx context.Context, d *store.Device, first *int, after *string, status *model.DeviceCommandStatus) (*model.DeviceCommandConnection, error) {
	p, err := page(commandCursor, first, after)
	if err != nil {
		return nil, err
	}
	var st string
	if status != nil {
		st = storeStatus(*status)
	}
	list, more, err := r.Store.ListDeviceCommands(ctx, d.ID, st, p)
	if err != nil {
		return nil, err
	}
	conn := &model.DeviceCommandConnection{}
	conn.Edges, conn.PageInfo = edges(commandCursor, list, more, func(n *store.DeviceCommand) int64 { return n.ID },
		func(cursor string, n *store.DeviceCommand) *model.DeviceCommandEdge {
			return &model.DeviceCommandEdge{Cursor: cursor, Node: n}
		})
	return conn, nil
}

func (r *Resolver) deviceUsers(ctx context.Context, d *store.Device) ([]*store.DeviceUser, error) {
	users, err := r.loadersFrom(ctx).deviceUsers.Load(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	return pointers(users), nil
}

// enqueueDeviceCommand validates and queues a command; the command, its
// audit event and the push are one transaction.
func (r *Resolver) enqueueDeviceCommand(ctx context.Context, deviceID, requestType string, payload any) (*store.DeviceCommand, error) {
	fields, ok := payload.(map[string]any)
	if payload != nil && !ok {
		return nil, BadInput("payload must be a JSON object")
	}
	if mutation, ok := dedicatedMutations[requestType]; ok {
		return nil, BadInput("%s has its own mutation, %s, with its own permission and sealed PIN", requestType, mutation)
	}
	if !mdmproto.KnownRequestType(requestType) {
		return nil, BadInput("unknown request type %q (see deviceCommandRequestTypes)", requestType)
	}
	// The same path as the dedicated mutations: blocked and checked-out
	// devices are refused, the push goes in the command's transaction.
	return r.queueDeviceAction(ctx, deviceID, deviceAction{requestType: requestType,
		build: func(*store.Device) (map[string]any, string, error) { return fields, "", nil }})
}

func (r *Resolver) cancelDeviceCommand(ctx context.Context, uuid string) (*store.DeviceCommand, error) {
	c, err := r.Store.CancelCommand(ctx, strings.TrimSpace(uuid), auth.FromContext(ctx).Actor())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, NotFound("no command with uuid %s", uuid)
	case errors.Is(err, store.ErrCommandFinished):
		return nil, BadInput("command %s was already sent or finished: it cannot be cancelled", uuid)
	case err != nil:
		return nil, err
	}
	return &c, nil
}

// dedicatedMutations are the request types only their own mutation queues:
// through enqueueDeviceCommand they would skip its permission and the PIN
// check and generation.
var dedicatedMutations = map[string]string{"DeviceLock": "lockDevice", "EraseDevice": "eraseDevice"}

func requestTypes() []string {
	var out []string
	for _, t := range mdmproto.KnownRequestTypes {
		if _, dedicated := dedicatedMutations[t]; !dedicated {
			out = append(out, t)
		}
	}
	return out
}
