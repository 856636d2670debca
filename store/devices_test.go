package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// insertDevices adds n devices numbered after those already on the platform.
func insertDevices(t *testing.T, s *store.Store, n int, platform string) {
	t.Helper()
	_, err := s.Pool().Exec(context.Background(), `INSERT INTO enrolled_devices (udid, serial_number, name, platform)
		SELECT 'UDID-' || $2 || '-' || i, 'SER' || $2 || i, 'Mac ' || i, $2
		FROM generate_series((SELECT count(*) FROM enrolled_devices WHERE platform = $2) + 1,
			(SELECT count(*) FROM enrolled_devices WHERE platform = $2) + $1) i`, n, platform)
	if err != nil {
		t.Fatal(err)
	}
}

func TestListDevicesPaginationIsStableUnderInserts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	insertDevices(t, s, 25, "macOS")

	var seen []int64
	page := store.Page{First: 10}
	for round := 0; ; round++ {
		devices, more, err := s.ListDevices(ctx, store.DeviceFilter{Platform: "macOS"}, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range devices {
			seen = append(seen, d.ID)
		}
		if round == 0 {
			// New devices arrive while a client walks the pages.
			insertDevices(t, s, 5, "macOS")
		}
		if !more {
			break
		}
		page.After = devices[len(devices)-1].ID
	}
	if len(seen) != 30 {
		t.Fatalf("walked %d devices, want the 25 + 5 inserted", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("device %d repeated or out of order after %d", seen[i], seen[i-1])
		}
	}
}

func TestDeviceFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	insertDevices(t, s, 3, "macOS")
	insertDevices(t, s, 2, "iOS")
	yes := true
	for name, tc := range map[string]struct {
		filter store.DeviceFilter
		want   int
	}{
		"all":            {store.DeviceFilter{}, 5},
		"platform":       {store.DeviceFilter{Platform: "iOS"}, 2},
		"serial":         {store.DeviceFilter{SerialNumber: "SERmacOS2"}, 1},
		"udid":           {store.DeviceFilter{UDID: "UDID-iOS-1"}, 1},
		"search":         {store.DeviceFilter{Search: "ios-"}, 2},
		"search literal": {store.DeviceFilter{Search: "%"}, 0},
		"blocked":        {store.DeviceFilter{Blocked: &yes}, 0},
	} {
		devices, _, err := s.ListDevices(ctx, tc.filter, store.Page{First: 100})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		count, err := s.CountDevices(ctx, tc.filter)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(devices) != tc.want || count != tc.want {
			t.Errorf("%s: listed %d, counted %d, want %d", name, len(devices), count, tc.want)
		}
	}
}

func TestBlockAndUnblock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	insertDevices(t, s, 1, "macOS")
	devices, _, _ := s.ListDevices(ctx, store.DeviceFilter{}, store.Page{First: 1})
	id := devices[0].ID

	var blocked store.Device
	err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) (err error) {
		blocked, err = s.SetDeviceBlocked(ctx, id, true)
		return err
	})
	if err != nil || blocked.BlockedAt == nil {
		t.Fatalf("block: %v, blocked_at %v", err, blocked.BlockedAt)
	}
	err = pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		d, err := s.SetDeviceBlocked(ctx, id, false)
		if d.BlockedAt != nil {
			return fmt.Errorf("still blocked")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBlockUnknownDeviceChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		_, err := s.SetDeviceBlocked(ctx, 999, true)
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if n, _ := s.CountAuditEvents(ctx); n != 0 {
		t.Fatalf("%d audit events written for a failed block", n)
	}
}

func TestServerKeyIsStableAndSealed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	calls := 0
	gen := func() ([]byte, error) { calls++; return []byte(fmt.Sprintf("key-%d", calls)), nil }
	first, err := s.ServerKey(ctx, "jwt", gen)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.ServerKey(ctx, "jwt", gen)
	if err != nil || string(first) != string(second) || calls != 1 {
		t.Fatalf("second key %q (first %q), %d generations, %v", second, first, calls, err)
	}
	var raw string
	if err := s.Pool().QueryRow(ctx, "SELECT key_sealed FROM server_keys").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw == string(first) {
		t.Fatal("server key stored in clear")
	}
}

func TestAPITokenRevocation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	tok := store.APIToken{JTI: "j1", Name: "ci", Permissions: []string{"mdm.view_enrolleddevice"}}
	tok.ExpiresAt = tok.CreatedAt.AddDate(3000, 0, 0)
	if err := s.InsertAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.APITokenUsable(ctx, "j1"); !ok || err != nil {
		t.Fatalf("fresh token unusable: %v", err)
	}
	if revoked, err := s.RevokeAPITokens(ctx, "", "ci"); len(revoked) != 1 || err != nil {
		t.Fatalf("revoke by name: %v, %v", revoked, err)
	}
	if ok, _ := s.APITokenUsable(ctx, "j1"); ok {
		t.Fatal("revoked token still usable")
	}
	if ok, _ := s.APITokenUsable(ctx, "never-issued"); ok {
		t.Fatal("unknown jti accepted")
	}
}
