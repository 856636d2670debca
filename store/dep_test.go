package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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
