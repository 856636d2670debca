package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

func newDEPServer(t *testing.T, s *store.Store, uuid string) store.DEPVirtualServer {
	t.Helper()
	ctx := context.Background()
	key, cert, err := dep.NewKeyPair("t-" + uuid)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.InsertDEPToken(ctx, "t-"+uuid, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.SaveDEPUpload(ctx, tok.ID, &dep.Token{ConsumerKey: "CK", ConsumerSecret: "CS", AccessToken: "AT",
		AccessSecret: "AS", AccessTokenExpiry: time.Now().AddDate(1, 0, 0)}, &dep.Account{ServerUUID: uuid, ServerName: uuid})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSaveDEPPageKeepsEachSerialsLastChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	v := newDEPServer(t, s, "VS1")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fetch := store.DEPPage{ServerID: v.ID, Phase: store.DEPPhaseFetch, Cursor: "c1",
		Devices: []dep.Device{{SerialNumber: "A", Model: "Mac"}, {SerialNumber: "B", Model: "iPad"}, {SerialNumber: "C"}}}
	c, err := s.SaveDEPPage(ctx, fetch)
	if err != nil || c != (store.DEPPageCounts{Added: 3}) {
		t.Fatalf("fetch: %+v %v", c, err)
	}
	// Listed again unchanged: nothing modified.
	st, _ := s.DEPSyncStateOf(ctx, v.ID)
	if st.Phase != store.DEPPhaseSync || st.Cursor != "c1" {
		t.Fatalf("after a finished fetch: %+v", st)
	}
	sync := store.DEPPage{ServerID: v.ID, From: "c1", Phase: store.DEPPhaseSync, Cursor: "c2", Devices: []dep.Device{
		{SerialNumber: "A", Model: "Mac", OpType: dep.OpModified, OpDate: &at},                  // unchanged fields
		{SerialNumber: "B", Model: "iPad", AssetTag: "T1", OpType: dep.OpModified, OpDate: &at}, // first change
		{SerialNumber: "B", Model: "iPad", AssetTag: "T2", OpType: dep.OpModified, OpDate: &at}, // last one wins
		{SerialNumber: "D", Model: "TV", OpType: dep.OpAdded, OpDate: &at},                      // added then deleted
		{SerialNumber: "D", OpType: dep.OpDeleted, OpDate: &at},
		{SerialNumber: "C", OpType: dep.OpDeleted, OpDate: &at},
	}}
	c, err = s.SaveDEPPage(ctx, sync)
	if err != nil || c != (store.DEPPageCounts{Modified: 1, Deleted: 1}) {
		t.Fatalf("sync: %+v %v", c, err)
	}
	b, err := s.DEPDeviceBySerial(ctx, "B")
	if err != nil || b.AssetTag != "T2" || b.OpType != dep.OpModified || !b.OpDate.Equal(at) {
		t.Fatalf("B = %+v, %v", b, err)
	}
	if _, err := s.DEPDeviceBySerial(ctx, "D"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("D was stored: %v", err)
	}
	n, _ := s.CountDEPDevices(ctx, store.DEPDeviceFilter{VirtualServerID: v.ID})
	deleted, _ := s.CountDEPDevices(ctx, store.DEPDeviceFilter{OpType: dep.OpDeleted})
	if n != 2 || deleted != 1 {
		t.Fatalf("%d listed and %d deleted, want 2 and 1", n, deleted)
	}
}

func TestDEPTokenStaysWithItsVirtualServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	v := newDEPServer(t, s, "VS1")
	tok := &dep.Token{ConsumerKey: "CK2", ConsumerSecret: "CS2", AccessToken: "AT2", AccessSecret: "AS2", AccessTokenExpiry: time.Now().AddDate(1, 0, 0)}
	_, err := s.SaveDEPUpload(ctx, v.TokenID, tok, &dep.Account{ServerUUID: "VS2"})
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "create a new DEP token") {
		t.Fatalf("renewal for another server: %v", err)
	}
	creds, err := s.DEPCredentials(ctx, v.TokenID)
	if err != nil || creds.ConsumerKey != "CK" || creds.AccessSecret != "AS" {
		t.Fatalf("a refused renewal changed the token: %+v %v", creds, err)
	}
	var sealed string
	if err := s.Pool().QueryRow(ctx, "SELECT access_secret_sealed FROM dep_tokens WHERE id = $1", v.TokenID).Scan(&sealed); err != nil ||
		!strings.HasPrefix(sealed, "v1:") {
		t.Fatalf("access secret stored as %q", sealed)
	}
}

// dep_devices checks its virtual server once per statement, not with a
// foreign key: the rule must hold as the foreign key's did.
func TestDEPDevicesNeedTheirVirtualServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	v := newDEPServer(t, s, "VS1")
	other := newDEPServer(t, s, "VS2")
	page := store.DEPPage{ServerID: v.ID, Phase: store.DEPPhaseFetch, Cursor: "c1", More: true,
		Devices: []dep.Device{{SerialNumber: "A"}, {SerialNumber: "B"}}}
	if _, err := s.SaveDEPPage(ctx, page); err != nil {
		t.Fatal(err)
	}
	var pgErr *pgconn.PgError
	_, err := s.Pool().Exec(ctx, "INSERT INTO dep_devices (virtual_server_id, serial_number) VALUES ($1, 'C'), ($2, 'D')", v.ID, v.ID+1000)
	if !errors.As(err, &pgErr) || pgErr.Code != "23503" {
		t.Fatalf("a device of a server that does not exist: %v", err)
	}
	_, err = s.Pool().Exec(ctx, "UPDATE dep_devices SET virtual_server_id = $1 WHERE serial_number = 'A'", v.ID+1000)
	if !errors.As(err, &pgErr) || pgErr.Code != "23503" {
		t.Fatalf("a device moved to a server that does not exist: %v", err)
	}
	// A device moving to another server that exists is fine.
	if _, err := s.Pool().Exec(ctx, "UPDATE dep_devices SET virtual_server_id = $1 WHERE serial_number = 'A'", other.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, "DELETE FROM dep_virtual_servers WHERE id = $1", v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DEPDeviceBySerial(ctx, "B"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted server's device is still there: %v", err)
	}
	if a, err := s.DEPDeviceBySerial(ctx, "A"); err != nil || a.VirtualServerID != other.ID {
		t.Fatalf("the other server's device: %+v %v", a, err)
	}
}

// Writing a server's devices holds the server as the foreign key did: a
// deletion waits for the write to commit, then takes its devices with it.
func TestDEPServerDeletedDuringAPageWaitsAndTakesThePage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	v := newDEPServer(t, s, "VS1")
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "INSERT INTO dep_devices (virtual_server_id, serial_number) VALUES ($1, 'A')", v.ID); err != nil {
		t.Fatal(err)
	}
	deleted := make(chan error, 1)
	go func() {
		_, err := s.Pool().Exec(ctx, "DELETE FROM dep_virtual_servers WHERE id = $1", v.ID)
		deleted <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting bool
		if err := s.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM dep_virtual_servers%')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deleting the server never waited for the page being written")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if _, err := s.DEPDeviceBySerial(ctx, "A"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the page written during the deletion outlived its server: %v", err)
	}
}

func TestOverlapsDEPPageOnlyForDisjointFetchPages(t *testing.T) {
	t.Parallel()
	fetch := func(more bool, serials ...string) store.DEPPage {
		p := store.DEPPage{Phase: store.DEPPhaseFetch, More: more}
		for _, s := range serials {
			p.Devices = append(p.Devices, dep.Device{SerialNumber: s})
		}
		return p
	}
	deletion := fetch(true, "C")
	deletion.Devices[0].OpType = dep.OpDeleted
	sync := fetch(true, "C")
	sync.Phase = store.DEPPhaseSync
	for _, tc := range []struct {
		name       string
		prev, next store.DEPPage
		want       bool
	}{
		{"fetch pages without a serial in common", fetch(true, "A", "B"), fetch(true, "C"), true},
		{"the last page of a fetch may follow", fetch(true, "A"), fetch(false, "C"), true},
		{"a serial in both pages", fetch(true, "A", "B"), fetch(true, "C", "B"), false},
		{"after the end of a fetch", fetch(false, "A"), sync, false},
		{"a sync page", sync, fetch(true, "D"), false},
		{"a deletion", fetch(true, "A"), deletion, false},
	} {
		if got := store.OverlapsDEPPage(tc.prev, tc.next); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A DEP device list's count is exact up to the bound and the planner's
// estimate past it, as the devices list's: the schema promises both lists
// the same. Filters by server (a bigint) and by text both count exactly.
func TestCountDEPDevicesIsExactUpToTheBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	big, small := newDEPServer(t, s, "BIG"), newDEPServer(t, s, "SMALL")
	const many = store.ExactCountBound + 500
	for _, c := range []struct {
		server int64
		n      int
		status string
	}{{big.ID, many, "assigned"}, {small.ID, 7, "empty"}} {
		_, err := s.Pool().Exec(ctx, `INSERT INTO dep_devices (virtual_server_id, serial_number, profile_status)
			SELECT $1::bigint, 'S' || $1::text || '-' || i, $3 FROM generate_series(1, $2) i`, c.server, c.n, c.status)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Pool().Exec(ctx, "ANALYZE dep_devices"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []store.DEPDeviceFilter{{VirtualServerID: small.ID}, {ProfileStatus: "empty"}} {
		if n, err := s.CountDEPDevices(ctx, f); n != 7 || err != nil {
			t.Errorf("%+v counted %d (%v), want exactly 7", f, n, err)
		}
	}
	n, err := s.CountDEPDevices(ctx, store.DEPDeviceFilter{VirtualServerID: big.ID})
	checkEstimate(t, "DEP devices", n, err, many)
}
