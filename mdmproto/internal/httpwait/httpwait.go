// Package httpwait holds the waiting that orchard's HTTP clients of Apple
// services (and the device simulator) share: reading Retry-After, and
// sleeping without outliving the request's context.
package httpwait

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryAfter reads a Retry-After header: seconds or an HTTP date, never
// negative. ok is false when the header is absent or unreadable.
func RetryAfter(h string) (wait time.Duration, ok bool) {
	h = strings.TrimSpace(h)
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// Sleep waits d, or returns ctx's error if it ends first.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
