package service_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/swupdate"
	"github.com/orchardmdm/orchard/mdmproto/swupdate/swupdatesim"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

func TestSyncSoftwareUpdatesQueuesOneJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	first, err := svc.SyncSoftwareUpdates(ctx, "alice")
	must(t, err)
	again, err := svc.SyncSoftwareUpdates(ctx, "alice")
	must(t, err)
	if first.Kind != "software_update_sync" || again.ID != first.ID {
		t.Errorf("jobs %d (%s) and %d: want one queued sync", first.ID, first.Kind, again.ID)
	}
	if got := auditActions(t, s); !slices.Equal(got, []string{"software_updates.sync", "software_updates.sync"}) {
		t.Errorf("audit %v", got)
	}
}

func TestReplaceSoftwareUpdateCatalog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t)
	good := swupdatesim.Sample(time.Now())
	counts, err := svc.ReplaceSoftwareUpdateCatalog(ctx, "job", &good)
	must(t, err)
	if counts != (store.SoftwareUpdateCounts{Added: 9, Total: 9}) {
		t.Fatalf("counts %+v", counts)
	}
	for name, spoil := range map[string]func(c *swupdate.Catalog){
		"bad version":  func(c *swupdate.Catalog) { c.PublicAssetSets["iOS"][0].ProductVersion = "1.x" },
		"bad device":   func(c *swupdate.Catalog) { c.AssetSets["macOS"][0].SupportedDevices = []string{"Mac 1"} },
		"bad platform": func(c *swupdate.Catalog) { c.AssetSets["mac OS"] = c.AssetSets["macOS"] },
		"bad date":     func(c *swupdate.Catalog) { c.PublicAssetSets["visionOS"][0].PostingDate = "yesterday" },
	} {
		bad := swupdatesim.Sample(time.Now())
		spoil(&bad)
		_, err := svc.ReplaceSoftwareUpdateCatalog(ctx, "job", &bad)
		if !service.IsKind(err, service.Invalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n, err := s.CountSoftwareUpdates(ctx, store.SoftwareUpdateFilter{}); err != nil || n != 9 {
		t.Errorf("catalog after refusals: %d, %v", n, err)
	}
	if got := auditActions(t, s); !slices.Equal(got, []string{"software_updates.replace_catalog"}) {
		t.Errorf("audit %v", got)
	}
}
