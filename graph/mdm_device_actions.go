package graph

import (
	"context"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/service"
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

func (r *Resolver) lockDevice(ctx context.Context, id string, in *model.LockDeviceInput) (*store.DeviceCommand, error) {
	n, err := parseID("device", id)
	if err != nil {
		return nil, err
	}
	if in == nil {
		in = &model.LockDeviceInput{}
	}
	c, err := r.Service.LockDevice(ctx, auth.FromContext(ctx).Actor(), n, service.LockOptions{
		Message: deref(in.Message), PhoneNumber: deref(in.PhoneNumber), PIN: in.Pin})
	return &c, err
}

func (r *Resolver) eraseDevice(ctx context.Context, id string, in *model.EraseDeviceInput) (*store.DeviceCommand, error) {
	n, err := parseID("device", id)
	if err != nil {
		return nil, err
	}
	if in == nil {
		in = &model.EraseDeviceInput{}
	}
	o := service.EraseOptions{PIN: in.Pin, PreserveDataPlan: in.PreserveDataPlan, DisallowProximitySetup: in.DisallowProximitySetup}
	if in.ObliterationBehavior != nil {
		var ok bool
		if o.ObliterationBehavior, ok = obliterationBehaviors[*in.ObliterationBehavior]; !ok {
			return nil, BadInput("unknown obliterationBehavior %q", *in.ObliterationBehavior)
		}
	}
	c, err := r.Service.EraseDevice(ctx, auth.FromContext(ctx).Actor(), n, o)
	return &c, err
}
