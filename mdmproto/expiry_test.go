package mdmproto_test

import (
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
)

func TestDaysUntil(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Time
		want int
	}{
		{now.Add(30*24*time.Hour + time.Hour), 30},
		{now.Add(23 * time.Hour), 0},
		{now.Add(-time.Hour), -1},
	} {
		if got := mdmproto.DaysUntil(tc.at, now); got != tc.want {
			t.Errorf("DaysUntil(%v) = %d, want %d", tc.at, got, tc.want)
		}
	}
}
