package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

func certInput(topic string) store.PushCertificateInput {
	return store.PushCertificateInput{Name: "main", Topic: topic, CertPEM: []byte("cert"), KeyDER: []byte("key"),
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
}

func TestPushCertificateRenewalKeepsTheTopic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	if topic, err := s.PushTopic(ctx); err != nil || topic != "" {
		t.Fatalf("PushTopic without certificates = %q, %v; want empty", topic, err)
	}
	c, err := s.CreatePushCertificate(ctx, certInput("com.apple.mgmt.A"))
	mustPush(t, err)
	if _, err := s.CreatePushCertificate(ctx, certInput("com.apple.mgmt.A")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second certificate for one topic: %v, want ErrConflict", err)
	}
	mustPush(t, s.WarnPushCertificate(ctx, c.ID, "expires soon"))
	if _, err := s.RenewPushCertificate(ctx, c.ID, certInput("com.apple.mgmt.B")); !errors.Is(err, store.ErrTopicChanged) {
		t.Fatalf("renewal with another topic: %v, want ErrTopicChanged", err)
	}
	in := certInput("com.apple.mgmt.A")
	in.Name, in.KeyDER = "", []byte("new key")
	renewed, err := s.RenewPushCertificate(ctx, c.ID, in)
	mustPush(t, err)
	if renewed.Name != "main" || renewed.ExpiryWarning != nil {
		t.Fatalf("renewed = %+v; want the name kept and the warning cleared", renewed)
	}
	creds, err := s.PushCredentials(ctx, []string{"com.apple.mgmt.A", "com.apple.mgmt.none"})
	mustPush(t, err)
	if len(creds) != 1 || string(creds["com.apple.mgmt.A"].KeyDER) != "new key" {
		t.Fatalf("credentials = %+v", creds)
	}
	if topic, _ := s.PushTopic(ctx); topic != "com.apple.mgmt.A" {
		t.Fatalf("PushTopic = %q", topic)
	}
}

// pushableDevices makes five devices of which three can be pushed: one has
// no push channel yet, another's topic has no certificate.
func pushableDevices(t *testing.T, s *store.Store) []int64 {
	t.Helper()
	ctx := context.Background()
	_, err := s.CreatePushCertificate(ctx, certInput("com.apple.mgmt.A"))
	mustPush(t, err)
	var ids []int64
	rows, err := s.Pool().Query(ctx, `INSERT INTO enrolled_devices (udid, push_token, push_magic, push_topic)
		SELECT 'U' || i, decode(lpad(to_hex(i), 64, '0'), 'hex'), 'magic' || i, 'com.apple.mgmt.A'
		FROM generate_series(1, 5) i RETURNING id`)
	mustPush(t, err)
	for rows.Next() {
		var id int64
		mustPush(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	_, err = s.Pool().Exec(ctx, "UPDATE enrolled_devices SET push_token = NULL WHERE id = $1", ids[3])
	mustPush(t, err)
	_, err = s.Pool().Exec(ctx, "UPDATE enrolled_devices SET push_topic = 'com.apple.mgmt.other' WHERE id = $1", ids[4])
	mustPush(t, err)
	return ids
}

func TestClaimAndDeferPushes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	ids := pushableDevices(t, s)
	first, err := s.ClaimPushTargets(ctx, ids, time.Minute, false)
	mustPush(t, err)
	if len(first) != 3 {
		t.Fatalf("claimed %d devices, want the 3 with a push channel and a certificate", len(first))
	}
	again, err := s.ClaimPushTargets(ctx, ids, time.Minute, false)
	mustPush(t, err)
	if len(again) != 0 {
		t.Fatalf("claimed %d devices twice in one window", len(again))
	}
	deferred, err := s.DeferPushes(ctx, ids, nil, time.Minute)
	mustPush(t, err)
	if len(deferred) != 3 {
		t.Fatalf("deferred %v, want the 3 pushable devices", deferred)
	}
	if more, err := s.DeferPushes(ctx, ids, nil, time.Minute); err != nil || len(more) != 0 {
		t.Fatalf("deferring again = %v, %v; want nothing new", more, err)
	}
	// Once the window is over, a fresh claim answers the deferred pushes too:
	// their follow-up finds nothing to take.
	_, err = s.Pool().Exec(ctx, "UPDATE enrolled_devices SET last_notified_at = now() - interval '2 minutes' WHERE id = $1", ids[2])
	mustPush(t, err)
	if fresh, err := s.ClaimPushTargets(ctx, ids[2:3], time.Minute, false); err != nil || len(fresh) != 1 {
		t.Fatalf("claim after the window = %v, %v", fresh, err)
	}
	taken, claimed, err := s.ClaimDeferredPushTargets(ctx, ids, time.Minute)
	mustPush(t, err)
	if len(taken) != 2 || len(claimed) != 0 {
		t.Fatalf("took deferrals of %v and claimed %v; want the 2 devices not pushed since, still inside their window", taken, claimed)
	}
	n, err := s.InvalidatePushTokens(ctx, []store.PushTarget{first[0], {DeviceID: first[1].DeviceID, Token: []byte("another")}})
	mustPush(t, err)
	if n != 1 {
		t.Fatalf("invalidated %d tokens, want only the one whose token matches", n)
	}
	forced, err := s.ClaimPushTargets(ctx, ids, time.Minute, true)
	mustPush(t, err)
	if len(forced) != 2 {
		t.Fatalf("forced claim got %d devices, want the 2 with a valid token", len(forced))
	}
	pushable, err := s.PushableDeviceIDs(ctx, store.DeviceFilter{})
	mustPush(t, err)
	if len(pushable) != 2 {
		t.Fatalf("pushable = %v", pushable)
	}
}

func mustPush(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Two workers (or processes) claiming the same devices at once never both get one.
func TestConcurrentClaimsNeverShareADevice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	_, err := s.CreatePushCertificate(ctx, certInput("com.apple.mgmt.A"))
	mustPush(t, err)
	rows, err := s.Pool().Query(ctx, `INSERT INTO enrolled_devices (udid, push_token, push_magic, push_topic)
		SELECT 'U' || i, decode(lpad(to_hex(i), 64, '0'), 'hex'), 'm', 'com.apple.mgmt.A'
		FROM generate_series(1, 500) i RETURNING id`)
	mustPush(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	mustPush(t, err)

	results := make(chan []store.PushTarget, 4)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			got, err := s.ClaimPushTargets(ctx, ids, time.Minute, false)
			errs <- err
			results <- got
		}()
	}
	seen := map[int64]bool{}
	for range 4 {
		mustPush(t, <-errs)
		for _, target := range <-results {
			if seen[target.DeviceID] {
				t.Fatalf("device %d claimed twice", target.DeviceID)
			}
			seen[target.DeviceID] = true
		}
	}
	if len(seen) != len(ids) {
		t.Fatalf("%d of %d devices claimed", len(seen), len(ids))
	}
}
