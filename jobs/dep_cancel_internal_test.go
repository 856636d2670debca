package jobs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// Only what needs a person (a server gone, a token not uploaded or expired)
// ends a DEP job; a database hiccup or a shutdown is retried.
func TestDEPJobsCancelOnlyWhatNeedsAPerson(t *testing.T) {
	var cancel *river.JobCancelError
	for _, err := range []error{
		fmt.Errorf("virtual server 7: %w", store.ErrNotFound),
		fmt.Errorf("dep token 3: %w", store.ErrDEPTokenNotUploaded),
		fmt.Errorf("virtual server %q: %w", "main", service.ErrDEPTokenExpired),
	} {
		if got := cancelUnlessTransient(err); !errors.As(got, &cancel) {
			t.Errorf("%v: %v, want the job cancelled", err, got)
		}
	}
	for _, err := range []error{context.Canceled, errors.New("conn closed")} {
		if got := cancelUnlessTransient(err); got != err {
			t.Errorf("%v: %v, want it returned for a retry", err, got)
		}
	}
}
