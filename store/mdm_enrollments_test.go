package store_test

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

func TestCreateEnrollmentContract(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	missing := int64(424242)
	if _, err := s.CreateEnrollment(ctx, store.NewEnrollment{Name: "x", BlueprintID: &missing}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown blueprint: %v", err)
	}
	if _, err := s.CreateEnrollment(ctx, store.NewEnrollment{}); err == nil {
		t.Fatal("empty name accepted")
	}
	a, err := s.CreateEnrollment(ctx, store.NewEnrollment{Name: "DEP", DEP: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateEnrollment(ctx, store.NewEnrollment{Name: "DEP"})
	if err != nil {
		t.Fatal(err)
	}
	if !a.DEP || b.DEP || a.Secret == b.Secret || len(a.Secret) < 32 {
		t.Fatalf("enrollments %+v %+v", a, b)
	}
	got, err := s.EnrollmentBySecret(ctx, a.Secret)
	if err != nil || got.ID != a.ID {
		t.Fatalf("by secret: %+v %v", got, err)
	}
}

func TestSCEPChallengesAreSingleUseAndSwept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	e, err := s.CreateEnrollment(ctx, store.NewEnrollment{Name: "OTA"})
	if err != nil {
		t.Fatal(err)
	}
	serial := int64(1)
	issue := func() (*x509.Certificate, error) {
		serial++
		return &x509.Certificate{Raw: []byte{byte(serial)}, SerialNumber: big.NewInt(serial),
			NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}, nil
	}
	c, err := s.NewSCEPChallenge(ctx, e.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeSCEPChallenge(ctx, c, issue); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeSCEPChallenge(ctx, c, issue); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second use: %v", err)
	}
	// A failing issuer leaves the challenge usable.
	c2, _ := s.NewSCEPChallenge(ctx, e.ID, time.Hour)
	if err := s.ConsumeSCEPChallenge(ctx, c2, func() (*x509.Certificate, error) { return nil, errors.New("boom") }); err == nil {
		t.Fatal("issuer failure swallowed")
	}
	if err := s.ConsumeSCEPChallenge(ctx, c2, issue); err != nil {
		t.Fatalf("challenge lost to a failed issue: %v", err)
	}
	if _, err := s.Pool().Exec(ctx, "UPDATE mdm_scep_challenges SET expires_at = now() - interval '2 days'"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewSCEPChallenge(ctx, e.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteStaleSCEPChallenges(ctx, time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var n int
	_ = s.Pool().QueryRow(ctx, "SELECT count(*) FROM mdm_scep_challenges").Scan(&n)
	if n != 1 {
		t.Fatalf("%d challenges left, want only the fresh one", n)
	}
	if _, err := s.NewSCEPChallenge(ctx, 999999, time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("challenge for a missing enrollment: %v", err)
	}
	if n, _ := s.CountSCEPCertificates(ctx); n != 2 {
		t.Fatalf("%d certificates recorded, want 2", n)
	}
}

func TestDEPEnrollmentIsMadeOncePerProfileName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	ota, err := s.CreateEnrollment(ctx, store.NewEnrollment{Name: "Staff"})
	if err != nil {
		t.Fatal(err)
	}
	secrets := make(chan string, 4)
	for range 4 {
		go func() {
			e, err := s.DEPEnrollment(ctx, "Staff")
			if err != nil || !e.DEP {
				t.Errorf("DEP enrollment %+v: %v", e, err)
			}
			secrets <- e.Secret
		}()
	}
	first := <-secrets
	for range 3 {
		if got := <-secrets; got != first {
			t.Fatalf("one profile name gave two DEP enrollments: %s and %s", first, got)
		}
	}
	if first == ota.Secret {
		t.Fatal("the DEP profile reused an over-the-air enrollment")
	}
	other, err := s.DEPEnrollment(ctx, "Lab")
	if err != nil || other.Secret == first {
		t.Fatalf("another profile name: %+v %v", other, err)
	}
}

// TestSecretsAreKeptHashedAndUsedChallengesDeleted: enrollment secrets and
// challenges are only compared, so no row holds them in clear; a DEP
// enrollment's secret is sealed (it is given to Apple again), including one
// stored in clear before secrets were hashed.
func TestSecretsAreKeptHashedAndUsedChallengesDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	inClear := func(secret string) bool {
		t.Helper()
		var n int
		err := s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM mdm_enrollments t WHERE strpos(t::text, $1) > 0) +
			(SELECT count(*) FROM mdm_scep_challenges t WHERE strpos(t::text, $1) > 0)`, secret).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	ota, err := s.CreateEnrollment(ctx, store.NewEnrollment{Name: "OTA"})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := s.DEPEnrollment(ctx, "Kiosk")
	if err != nil {
		t.Fatal(err)
	}
	challenge, err := s.NewSCEPChallenge(ctx, ota.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{ota.Secret, dep.Secret, challenge} {
		if inClear(secret) {
			t.Fatalf("secret %q... stored in clear", secret[:4])
		}
	}
	if again, err := s.DEPEnrollment(ctx, "Kiosk"); err != nil || again.Secret != dep.Secret {
		t.Fatalf("DEP enrollment secret not kept: %v", err)
	}
	if got, err := s.EnrollmentBySecret(ctx, ota.Secret); err != nil || got.ID != ota.ID || got.Secret != "" {
		t.Fatalf("by secret: %+v %v", got, err)
	}
	// A DEP enrollment from before hashing: clear secret, no sealed copy.
	if _, err := s.Pool().Exec(ctx, "UPDATE mdm_enrollments SET secret = 'legacy-secret-legacy-secret-legacy-secret', secret_sealed = NULL WHERE id = $1", dep.ID); err != nil {
		t.Fatal(err)
	}
	if legacy, err := s.DEPEnrollment(ctx, "Kiosk"); err != nil || legacy.Secret != "legacy-secret-legacy-secret-legacy-secret" {
		t.Fatalf("legacy DEP secret: %+v %v", legacy, err)
	}
	if inClear("legacy-secret-legacy") {
		t.Fatal("a legacy DEP secret stays in clear after use")
	}
	issue := func() (*x509.Certificate, error) {
		return &x509.Certificate{Raw: []byte("c"), SerialNumber: big.NewInt(7), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}, nil
	}
	if err := s.ConsumeSCEPChallenge(ctx, challenge, issue); err != nil {
		t.Fatal(err)
	}
	var left int
	_ = s.Pool().QueryRow(ctx, "SELECT count(*) FROM mdm_scep_challenges").Scan(&left)
	if left != 0 {
		t.Fatalf("%d challenges kept after use", left)
	}
}
