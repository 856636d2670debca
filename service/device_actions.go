package service

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"

	"github.com/orchardmdm/orchard/store"
)

// ObliterationBehaviors are Apple's EraseDevice ObliterationBehavior values
// (macOS 12 and later).
var ObliterationBehaviors = []string{"Default", "DoNotObliterate", "ObliterateWithWarning", "Always"}

// LockOptions are DeviceLock's: what the locked screen shows, and the Find
// My PIN a Mac asks for (nil: orchard makes one where it is needed).
type LockOptions struct {
	Message, PhoneNumber string
	PIN                  *string
}

// EraseOptions are EraseDevice's.
type EraseOptions struct {
	PIN                                      *string
	PreserveDataPlan, DisallowProximitySetup *bool
	// ObliterationBehavior is one of ObliterationBehaviors, or "".
	ObliterationBehavior string
}

// LockDevice queues DeviceLock. Apple requires the PIN on every Mac: without
// one the Mac could not be unlocked again.
func (s *Service) LockDevice(ctx context.Context, actor string, id int64, o LockOptions) (store.DeviceCommand, error) {
	if err := validPIN(o.PIN); err != nil {
		return store.DeviceCommand{}, err
	}
	return s.queueCommand(ctx, actor, id, commandAction{requestType: "DeviceLock", audit: "device.lock",
		build: func(d *store.Device) (map[string]any, string, error) {
			payload := map[string]any{}
			if o.Message != "" {
				payload["Message"] = o.Message
			}
			if o.PhoneNumber != "" {
				payload["PhoneNumber"] = o.PhoneNumber
			}
			pin, err := pinFor(d, o.PIN, isMac(d))
			if pin != "" {
				payload["PIN"] = pin
			}
			return payload, pin, err
		}})
}

// EraseDevice queues EraseDevice, with the options the device's platform takes.
func (s *Service) EraseDevice(ctx context.Context, actor string, id int64, o EraseOptions) (store.DeviceCommand, error) {
	if err := validPIN(o.PIN); err != nil {
		return store.DeviceCommand{}, err
	}
	if o.ObliterationBehavior != "" && !contains(ObliterationBehaviors, o.ObliterationBehavior) {
		return store.DeviceCommand{}, invalid("unknown obliterationBehavior %q", o.ObliterationBehavior)
	}
	return s.queueCommand(ctx, actor, id, commandAction{requestType: "EraseDevice", audit: "device.erase",
		build: func(d *store.Device) (map[string]any, string, error) { return erasePayload(d, o) }})
}

func erasePayload(d *store.Device, o EraseOptions) (map[string]any, string, error) {
	payload := map[string]any{}
	mobile := d.Platform == "" || d.Platform == "iOS" || d.Platform == "iPadOS"
	for key, v := range map[string]*bool{"PreserveDataPlan": o.PreserveDataPlan, "DisallowProximitySetup": o.DisallowProximitySetup} {
		if v == nil {
			continue
		}
		if !mobile {
			return nil, "", invalid("%s applies to iOS and iPadOS devices only; device %d is %s", key, d.ID, d.Platform)
		}
		payload[key] = *v
	}
	if o.ObliterationBehavior != "" {
		if !isMac(d) && d.Platform != "" {
			return nil, "", invalid("obliterationBehavior applies to macOS devices only; device %d is %s", d.ID, d.Platform)
		}
		payload["ObliterationBehavior"] = o.ObliterationBehavior
	}
	// Intel Macs (T1 and older) need the PIN; apple_silicon stays false
	// until the Mac answers DeviceInformation, so an unknown Mac gets one
	// too: Apple silicon ignores it.
	pin, err := pinFor(d, o.PIN, isMac(d) && !d.AppleSilicon)
	if pin != "" {
		payload["PIN"] = pin
	}
	return payload, pin, err
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func isMac(d *store.Device) bool { return d.Platform == "macOS" }

// validPIN checks a PIN before any device is read: Find My PINs are six digits.
func validPIN(pin *string) error {
	if pin == nil {
		return nil
	}
	if len(*pin) != 6 {
		return invalid("pin must be exactly 6 digits")
	}
	for _, c := range *pin {
		if c < '0' || c > '9' {
			return invalid("pin must be exactly 6 digits")
		}
	}
	return nil
}

// pinFor returns the PIN to send: the given one on Macs (or devices whose
// platform is not known yet), a fresh one when the device needs one.
func pinFor(d *store.Device, given *string, needed bool) (string, error) {
	if given != nil {
		if d.Platform != "" && !isMac(d) {
			return "", invalid("pin applies to macOS devices only; device %d is %s", d.ID, d.Platform)
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
