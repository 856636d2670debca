package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// Only devices that can be pushed are recorded, each once however often it
// is asked for, and nothing stays of a transaction that rolled back.
func TestWantPushesRecordsPushableDevicesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	ids := pushableDevices(t, s) // ids[3] and ids[4] cannot be pushed
	mustPush(t, s.Tx(ctx, func(q *store.Queries) error {
		for i, want := range []int{3, 0, 0} {
			n, err := q.WantPushes(ctx, ids)
			if err != nil {
				return err
			}
			if n != want {
				t.Errorf("call %d recorded %d, want %d", i+1, n, want)
			}
		}
		return nil
	}))
	if got := wantedDevices(t, s); !slices.Equal(got, ids[:3]) {
		t.Fatalf("wanted devices = %v, want %v", got, ids[:3])
	}
	if _, err := s.Pool().Exec(ctx, "DELETE FROM apns_push_wanted"); err != nil {
		t.Fatal(err)
	}
	rollback := s.Tx(ctx, func(q *store.Queries) error {
		if _, err := q.WantPushes(ctx, ids); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(rollback, errRollback) {
		t.Fatal(rollback)
	}
	if n, err := s.WantPushes(ctx, ids[3:]); err != nil || n != 0 {
		t.Fatalf("WantPushes of unpushable devices = %d, %v", n, err)
	}
	if got := wantedDevices(t, s); len(got) != 0 {
		t.Fatalf("wanted after a rollback: %v", got)
	}
}

// Claims take the oldest wanted pushes first, at most limit, and remove
// them; claims in concurrent transactions never share a device.
func TestClaimWantedPushes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	ids := pushableDevices(t, s)
	for _, id := range []int64{ids[2], ids[0], ids[1]} {
		if _, err := s.WantPushes(ctx, []int64{id}); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := s.WantedPushBacklog(ctx); err != nil || b.Devices != 3 || b.OldestAge < 0 {
		t.Fatalf("backlog of three = %+v, %v", b, err)
	}
	mustPush(t, s.Tx(ctx, func(q *store.Queries) error {
		first, err := q.ClaimWantedPushes(ctx, 2)
		if err != nil {
			return err
		}
		slices.Sort(first)
		if !slices.Equal(first, []int64{ids[0], ids[2]}) {
			t.Errorf("first claim = %v, want the two oldest %v", first, []int64{ids[2], ids[0]})
		}
		// A claim on another connection meanwhile skips the locked rows.
		second, err := s.ClaimWantedPushes(ctx, 10)
		if err == nil && !slices.Equal(second, []int64{ids[1]}) {
			t.Errorf("concurrent claim = %v, want %v", second, []int64{ids[1]})
		}
		return err
	}))
	if got := wantedDevices(t, s); len(got) != 0 {
		t.Fatalf("left after claiming every wanted push: %v", got)
	}
	if b, err := s.WantedPushBacklog(ctx); err != nil || b != (store.WantedPushes{}) {
		t.Fatalf("empty backlog = %+v, %v", b, err)
	}
}

var errRollback = errors.New("roll back")

func wantedDevices(t *testing.T, s *store.Store) []int64 {
	t.Helper()
	var ids []int64
	err := s.Pool().QueryRow(context.Background(),
		"SELECT coalesce(array_agg(device_id ORDER BY device_id), '{}') FROM apns_push_wanted").Scan(&ids)
	mustPush(t, err)
	return ids
}
