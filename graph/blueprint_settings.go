package graph

import (
	"context"
	"encoding/pem"
	"errors"
	"time"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// seconds turns an interval in seconds into a duration; nil stays nil.
// Values beyond any sane interval are clamped so the service refuses them
// rather than overflowing.
func seconds(n *int) *time.Duration {
	if n == nil {
		return nil
	}
	v := min(max(*n, -1), 1<<31)
	d := time.Duration(v) * time.Second
	return &d
}

func valueOr[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (r *Resolver) createBlueprint(ctx context.Context, in model.CreateBlueprintInput) (*store.Blueprint, error) {
	bi := service.BlueprintInput{Name: in.Name}
	if in.InventoryInterval != nil {
		bi.InventoryInterval = *seconds(in.InventoryInterval)
		if bi.InventoryInterval == 0 {
			bi.InventoryInterval = -1 // an explicit 0 is out of range, not "default"
		}
	}
	bi.CollectApps, bi.CollectCertificates, bi.CollectProfiles = valueOr(in.CollectApps), valueOr(in.CollectCertificates), valueOr(in.CollectProfiles)
	bi.RecoveryPassword, bi.RecoveryPasswordRotationDays = valueOr(in.RecoveryPassword), valueOr(in.RecoveryPasswordRotationDays)
	bi.FileVault = valueOr(in.FileVault)
	b, err := r.Service.CreateBlueprintWith(ctx, auth.FromContext(ctx).Actor(), bi)
	return &b, err
}

func (r *Resolver) updateBlueprint(ctx context.Context, id string, in model.UpdateBlueprintInput) (*store.Blueprint, error) {
	n, err := parseID("blueprint", id)
	if err != nil {
		return nil, err
	}
	b, err := r.Service.UpdateBlueprint(ctx, auth.FromContext(ctx).Actor(), n, service.BlueprintPatch{Name: in.Name,
		InventoryInterval: seconds(in.InventoryInterval), CollectApps: in.CollectApps, CollectCertificates: in.CollectCertificates,
		CollectProfiles: in.CollectProfiles, RecoveryPassword: in.RecoveryPassword,
		RecoveryPasswordRotationDays: in.RecoveryPasswordRotationDays, FileVault: in.FileVault})
	return &b, err
}

func (r *Resolver) deleteBlueprint(ctx context.Context, id string) (string, error) {
	n, err := parseID("blueprint", id)
	if err != nil {
		return "", err
	}
	return id, r.Service.DeleteBlueprint(ctx, auth.FromContext(ctx).Actor(), n)
}

func (r *Resolver) assignBlueprint(ctx context.Context, deviceIDs []string, blueprintID string) (int, error) {
	if len(deviceIDs) > service.MaxAssignDevices {
		return 0, BadInput("assign 1 to %d devices at once, not %d", service.MaxAssignDevices, len(deviceIDs))
	}
	bp, err := parseID("blueprint", blueprintID)
	if err != nil {
		return 0, err
	}
	ids := make([]int64, len(deviceIDs))
	for i, id := range deviceIDs {
		if ids[i], err = parseID("device", id); err != nil {
			return 0, err
		}
	}
	if err := r.Service.AssignBlueprint(ctx, auth.FromContext(ctx).Actor(), bp, ids); err != nil {
		return 0, err
	}
	return countDistinct(ids), nil
}

func countDistinct(ids []int64) int {
	seen := make(map[int64]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	return len(seen)
}

func (r *Resolver) blueprint(ctx context.Context, id string) (*store.Blueprint, error) {
	n, err := parseID("blueprint", id)
	if err != nil {
		return nil, err
	}
	b, err := r.Store.Blueprint(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return &b, err
}

func (r *Resolver) setRecoveryPassword(ctx context.Context, deviceID string) (*store.DeviceCommand, error) {
	n, err := parseID("device", deviceID)
	if err != nil {
		return nil, err
	}
	c, err := r.Service.SetRecoveryPassword(ctx, auth.FromContext(ctx).Actor(), n)
	return &c, err
}

func (r *Resolver) rotateFileVaultKey(ctx context.Context, deviceID string) (*store.DeviceCommand, error) {
	n, err := parseID("device", deviceID)
	if err != nil {
		return nil, err
	}
	c, err := r.Service.RotateFileVaultKey(ctx, auth.FromContext(ctx).Actor(), n)
	return &c, err
}

func certificatePEM(c *store.DeviceCertificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Data}))
}

func (r *Resolver) syncBlueprintDeclarations(ctx context.Context, id string) (int, error) {
	bp, err := parseID("blueprint", id)
	if err != nil {
		return 0, err
	}
	return r.Service.SyncBlueprintDeclarations(ctx, auth.FromContext(ctx).Actor(), bp)
}
