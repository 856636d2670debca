package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
)

// InventoryActor queues the commands of inventory runs.
const InventoryActor = "orchard:inventory"

// InventoryBatch is how many devices one inventory transaction claims: big
// enough that 10,000 devices take a few round trips, small enough that a
// transaction holds few row locks and one push job per batch.
const InventoryBatch = 1000

// deviceInformationQueries are the DeviceInformation queries orchard reads
// (mdmproto.FactsFromResult); asking for all would return the device's
// whole inventory, phone numbers included, for nothing.
var deviceInformationQueries = []string{"DeviceName", "Model", "ModelName", "ProductName", "OSVersion", "BuildVersion",
	"SerialNumber", "UDID", "IsAppleSilicon", "IsSupervised", "AwaitingConfiguration", "IsActivationLockManageable",
	"SoftwareUpdateDeviceID"}

// InventoryRun counts what one inventory run queued.
type InventoryRun struct {
	Devices  int `json:"devices"`
	Commands int `json:"commands"`
}

// RequestInventory queues inventory commands for every device whose last
// inventory is older than its blueprint's interval, in batches of
// InventoryBatch devices, each its own transaction (claim, commands, one
// audit event, pushes).
func (s *Service) RequestInventory(ctx context.Context) (InventoryRun, error) {
	var run InventoryRun
	var after int64
	for {
		var claimed int
		err := s.store.Tx(ctx, func(q *store.Queries) error {
			due, err := q.ClaimInventoryDue(ctx, after, InventoryBatch)
			if err != nil || len(due) == 0 {
				return err
			}
			claimed, after = len(due), due[len(due)-1].DeviceID
			n, err := s.queueInventoryInTx(ctx, q, due)
			run.Devices += len(due)
			run.Commands += n
			return err
		})
		if err != nil || claimed < InventoryBatch {
			return run, err
		}
	}
}

// commandSpec is a command to build.
type commandSpec struct {
	requestType string
	payload     map[string]any
}

// template is the spec's command encoded once, from templates or added to it.
func (c commandSpec) template(templates map[string]*mdmproto.CommandTemplate) (*mdmproto.CommandTemplate, error) {
	key := fmt.Sprint(c.requestType, c.payload)
	if t, ok := templates[key]; ok {
		return t, nil
	}
	t, err := mdmproto.NewCommandTemplate(c.requestType, c.payload)
	if err != nil {
		return nil, err
	}
	templates[key] = t
	return t, nil
}

// inventoryCommands are the request types a due device gets: those its
// blueprint collects that it has not pending already.
func inventoryCommands(d store.InventoryDue) []commandSpec {
	specs := []commandSpec{
		{requestType: "DeviceInformation", payload: map[string]any{"Queries": deviceInformationQueries}},
		{requestType: "SecurityInfo"},
	}
	if d.CollectApps != store.CollectNo {
		specs = append(specs, commandSpec{requestType: "InstalledApplicationList",
			payload: map[string]any{"ManagedAppsOnly": d.CollectApps == store.CollectManagedOnly}})
	}
	if d.CollectCertificates != store.CollectNo {
		specs = append(specs, commandSpec{requestType: "CertificateList",
			payload: map[string]any{"ManagedOnly": d.CollectCertificates == store.CollectManagedOnly}})
	}
	if d.CollectProfiles != store.CollectNo {
		specs = append(specs, commandSpec{requestType: "ProfileList",
			payload: map[string]any{"ManagedOnly": d.CollectProfiles == store.CollectManagedOnly}})
	}
	return slices.DeleteFunc(specs, func(c commandSpec) bool { return slices.Contains(d.Pending, c.requestType) })
}

// queueInventoryInTx queues the inventory commands of claimed devices, one
// COPY for all, publishes their queued events, records one audit event and
// pushes the devices that got something.
func (s *Service) queueInventoryInTx(ctx context.Context, q *store.Queries, due []store.InventoryDue) (int, error) {
	var cmds []store.QueuedCommand
	var pushed []int64
	templates := map[string]*mdmproto.CommandTemplate{} // a batch has few distinct commands: encode each once
	for _, d := range due {
		specs := inventoryCommands(d)
		for _, spec := range specs {
			tmpl, err := spec.template(templates)
			if err != nil {
				return 0, err
			}
			uuid, body := tmpl.Build()
			cmds = append(cmds, store.QueuedCommand{DeviceID: d.DeviceID, UUID: uuid, RequestType: spec.requestType,
				Body: body, Actor: InventoryActor})
		}
		if len(specs) > 0 {
			pushed = append(pushed, d.DeviceID)
		}
	}
	if len(cmds) == 0 {
		return 0, nil
	}
	ids, err := q.InsertCommands(ctx, cmds)
	if err != nil {
		return 0, err
	}
	evs := make([]events.Event, len(cmds))
	for i, c := range cmds {
		evs[i] = commandStatusEvent(ids[i], c.DeviceID, c.RequestType, "Queued")
	}
	if err := events.PublishAll(ctx, q.PgxTx(), evs); err != nil {
		return 0, err
	}
	err = s.audit(ctx, q, InventoryActor, event{action: "inventory.request", objectType: "enrolled_device",
		objectID: idString(pushed[0]), data: map[string]any{"devices": len(pushed), "commands": len(cmds),
			"first_device_id": pushed[0], "last_device_id": pushed[len(pushed)-1]}})
	if err != nil {
		return 0, err
	}
	return len(cmds), s.pushInTx(ctx, q, pushed)
}

// commandStatusEvent tells deviceCommandEvents subscribers a command entered
// a status (its stored name: Queued, Sent, Acknowledged, ...).
func commandStatusEvent(commandID, deviceID int64, requestType, status string) events.Event {
	return events.Event{Topic: events.TopicCommand, Type: status, ID: commandID, Kind: requestType, DeviceID: deviceID}
}
