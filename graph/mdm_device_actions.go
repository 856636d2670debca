package graph

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
)

// lockPINColumn holds the Find My PIN of the last lock or erase a device
// acknowledged: the one the locked or erased Mac asks for.
const lockPINColumn = "lock_pin_sealed"

// Apple's ObliterationBehavior values (EraseDevice, macOS 12 and later).
var obliterationBehaviors = map[model.ObliterationBehavior]string{
	model.ObliterationBehaviorDefault:               "Default",
	model.ObliterationBehaviorDoNotObliterate:       "DoNotObliterate",
	model.ObliterationBehaviorObliterateWithWarning: "ObliterateWithWarning",
	model.ObliterationBehaviorAlways:                "Always",
}

// deviceAction is what a dedicated command mutation adds to a payload once
// the device is known: the payload, and the PIN to seal ("" for none).
type deviceAction struct {
	requestType string
	audit       string // audit action on the device, e.g. device.lock; empty: only the command's own
	build       func(d *store.Device) (payload map[string]any, pin string, err error)
}

func (r *Resolver) lockDevice(ctx context.Context, id string, in *model.LockDeviceInput) (*store.DeviceCommand, error) {
	if in == nil {
		in = &model.LockDeviceInput{}
	}
	if err := validPIN(in.Pin); err != nil {
		return nil, err
	}
	return r.queueDeviceAction(ctx, id, deviceAction{requestType: "DeviceLock", audit: "device.lock",
		build: func(d *store.Device) (map[string]any, string, error) {
			payload := map[string]any{}
			if m := deref(in.Message); m != "" {
				payload["Message"] = m
			}
			if p := deref(in.PhoneNumber); p != "" {
				payload["PhoneNumber"] = p
			}
			// Apple requires the PIN on every Mac: without one the Mac
			// could not be unlocked again.
			pin, err := pinFor(d, in.Pin, isMac(d))
			if pin != "" {
				payload["PIN"] = pin
			}
			return payload, pin, err
		}})
}

func (r *Resolver) eraseDevice(ctx context.Context, id string, in *model.EraseDeviceInput) (*store.DeviceCommand, error) {
	if in == nil {
		in = &model.EraseDeviceInput{}
	}
	if err := validPIN(in.Pin); err != nil {
		return nil, err
	}
	var obliteration string
	if in.ObliterationBehavior != nil {
		var ok bool
		if obliteration, ok = obliterationBehaviors[*in.ObliterationBehavior]; !ok {
			return nil, BadInput("unknown obliterationBehavior %q", *in.ObliterationBehavior)
		}
	}
	return r.queueDeviceAction(ctx, id, deviceAction{requestType: "EraseDevice", audit: "device.erase",
		build: func(d *store.Device) (map[string]any, string, error) {
			payload := map[string]any{}
			mobile := d.Platform == "" || d.Platform == "iOS" || d.Platform == "iPadOS"
			for key, v := range map[string]*bool{"PreserveDataPlan": in.PreserveDataPlan, "DisallowProximitySetup": in.DisallowProximitySetup} {
				if v == nil {
					continue
				}
				if !mobile {
					return nil, "", BadInput("%s applies to iOS and iPadOS devices only; device %d is %s", key, d.ID, d.Platform)
				}
				payload[key] = *v
			}
			if obliteration != "" {
				if !isMac(d) && d.Platform != "" {
					return nil, "", BadInput("obliterationBehavior applies to macOS devices only; device %d is %s", d.ID, d.Platform)
				}
				payload["ObliterationBehavior"] = obliteration
			}
			// Intel Macs (T1 and older) need the PIN; apple_silicon stays
			// false until the Mac answers DeviceInformation, so an
			// unknown Mac gets one too: Apple silicon ignores it.
			pin, err := pinFor(d, in.Pin, isMac(d) && !d.AppleSilicon)
			if pin != "" {
				payload["PIN"] = pin
			}
			return payload, pin, err
		}})
}

// queueDeviceAction queues a dedicated command in one transaction: the
// device row locked while its state is checked, the command with its sealed
// PIN, the audit events (never the PIN) and the push. A second lock or erase
// while one is pending is queued too: each keeps its own PIN, so whichever the
// device runs, its PIN is on that command.
func (r *Resolver) queueDeviceAction(ctx context.Context, id string, a deviceAction) (*store.DeviceCommand, error) {
	n, err := parseID("device", id)
	if err != nil {
		return nil, err
	}
	actor := auth.FromContext(ctx).Actor()
	var c store.DeviceCommand
	err = r.Store.InTx(ctx, func(tx pgx.Tx) error {
		d, err := store.DeviceForUpdate(ctx, tx, n)
		if err != nil {
			return err
		}
		switch {
		case d.BlockedAt != nil:
			return BadInput("device %s is blocked: unblock it before sending %s", id, a.requestType)
		case d.CheckoutAt != nil:
			return BadInput("device %s has checked out of management: it cannot receive %s", id, a.requestType)
		}
		payload, pin, err := a.build(&d)
		if err != nil {
			return err
		}
		uuid, body, err := mdmproto.NewCommand(a.requestType, payload)
		if err != nil {
			return BadInput("%s", err)
		}
		c, err = r.Store.QueueCommand(ctx, tx, store.QueuedCommand{DeviceID: n, UUID: uuid, RequestType: a.requestType,
			Body: body, PIN: pin, Actor: actor})
		if err != nil {
			return err
		}
		if a.audit == "" {
			return r.pushInTx(ctx, tx, n)
		}
		keys := make([]string, 0, len(payload))
		for k := range payload {
			if k != "PIN" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		err = store.WriteAudit(ctx, tx, store.AuditEvent{Actor: actor, Action: a.audit, ObjectType: "enrolled_device",
			ObjectID: strconv.FormatInt(n, 10), Data: map[string]any{"udid": d.UDID, "serial_number": d.SerialNumber,
				"command_uuid": uuid, "options": keys, "pin_stored": pin != ""}})
		if err != nil {
			return err
		}
		return r.pushInTx(ctx, tx, n)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("no device with id %s", id)
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func isMac(d *store.Device) bool { return d.Platform == "macOS" }

// validPIN checks a PIN before any device is read: Find My PINs are six digits.
func validPIN(pin *string) error {
	if pin == nil {
		return nil
	}
	if len(*pin) != 6 {
		return BadInput("pin must be exactly 6 digits")
	}
	for _, c := range *pin {
		if c < '0' || c > '9' {
			return BadInput("pin must be exactly 6 digits")
		}
	}
	return nil
}

// pinFor returns the PIN to send: the given one on Macs (or devices whose
// platform is not known yet), a fresh one when the device needs one.
func pinFor(d *store.Device, given *string, needed bool) (string, error) {
	if given != nil {
		if d.Platform != "" && !isMac(d) {
			return "", BadInput("pin applies to macOS devices only; device %d is %s", d.ID, d.Platform)
		}
		return *given, nil
	}
	if !needed {
		return "", nil
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("generate PIN: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}
