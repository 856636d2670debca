package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/pgtest"
)

// TestConcurrentAuthenticatesBindOneIdentity: of several certificates racing
// to Authenticate one new UDID, exactly one is bound; the others are refused
// rather than silently replacing it.
func TestConcurrentAuthenticatesBindOneIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.New(t)
	const racers = 8
	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		bound, refused int
		unexpected     []error
		start          = make(chan struct{})
		notAfter       = time.Now().Add(time.Hour)
		udid           = mdmproto.NewUUID()
	)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ch := store.Channel{Enrollment: mdmproto.Enrollment{UDID: udid}, CertHash: []byte{byte(i), 1, 2, 3}, CertNotAfter: notAfter}
			_, _, err := s.Authenticate(ctx, ch, mdmproto.DeviceFacts{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				bound++
			case errors.Is(err, store.ErrIdentityMismatch):
				refused++
			default:
				unexpected = append(unexpected, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if bound != 1 || refused != racers-1 || len(unexpected) > 0 {
		t.Fatalf("%d bound, %d refused, errors %v; want 1 bound", bound, refused, unexpected)
	}
}
