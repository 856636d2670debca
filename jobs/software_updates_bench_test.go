package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/swupdate/swupdatesim"
)

// BenchmarkSoftwareUpdateSync syncs a catalog of Apple's real size and more:
// five platforms, 1,000 entries (public and managed), 200 device ids each.
// insert: into an empty catalog; update: every row changed; unchanged: a
// re-sync that writes nothing. Each op is a whole sync: fetch over HTTP,
// parse, and the one transaction.
func BenchmarkSoftwareUpdateSync(b *testing.B) {
	now := time.Now().UTC()
	catalogA, catalogB := swupdatesim.Large(now, 100, 200), swupdatesim.Large(now.AddDate(0, 0, -1), 100, 200)
	e := newSWUpdateEnv(b, catalogA, false)
	ctx := context.Background()
	sync := func() {
		c, err := e.client.Fetch(ctx)
		check(b, err)
		_, err = e.svc.ReplaceSoftwareUpdateCatalog(ctx, "bench", c)
		check(b, err)
	}
	b.Run("insert", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			_, err := e.store.Pool().Exec(ctx, "DELETE FROM software_updates")
			check(b, err)
			b.StartTimer()
			sync()
		}
	})
	b.Run("update", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if i++; i%2 == 0 {
				e.sim.SetCatalog(catalogA)
			} else {
				e.sim.SetCatalog(catalogB)
			}
			sync()
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		for b.Loop() {
			sync()
		}
	})
}
