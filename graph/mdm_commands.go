package graph

import (
	"context"
	"encoding/json"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/service"
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
// A RotateFileVaultKey answer is a FileVault recovery key, an
// ActivationLockBypassCode answer lifts Activation Lock.
var resultPermissions = map[string]string{"DeviceLocation": "mdm.view_location",
	"RotateFileVaultKey":       auth.ViewFileVaultPRK,
	"ActivationLockBypassCode": auth.ViewActivationLockBypassCode}

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

func (r *Resolver) revealCommandSecret(ctx context.Context, c *store.DeviceCommand, column string) ([]byte, error) {
	return r.Service.RevealCommandSecret(ctx, auth.FromContext(ctx).Actor(), c, column)
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
	conn := &model.DeviceCommandConnection{DeviceID: d.ID, Status: st}
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

func (r *Resolver) enqueueDeviceCommand(ctx context.Context, deviceID, requestType string, payload any) (*store.DeviceCommand, error) {
	n, err := parseID("device", deviceID)
	if err != nil {
		return nil, err
	}
	fields, ok := payload.(map[string]any)
	if payload != nil && !ok {
		return nil, BadInput("payload must be a JSON object")
	}
	c, err := r.Service.EnqueueCommand(ctx, auth.FromContext(ctx).Actor(), n, requestType, fields)
	return &c, err
}

func (r *Resolver) cancelDeviceCommand(ctx context.Context, uuid string) (*store.DeviceCommand, error) {
	c, err := r.Service.CancelCommand(ctx, auth.FromContext(ctx).Actor(), uuid)
	return &c, err
}

func requestTypes() []string { return service.EnqueueableRequestTypes() }
