package httpwait

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		header   string
		min, max time.Duration
		ok       bool
	}{
		{" 7 ", 7 * time.Second, 7 * time.Second, true},
		{"0", 0, 0, true},
		{future, 59 * time.Minute, time.Hour, true},
		{past, 0, 0, true},
		{"", 0, 0, false},
		{"-3", 0, 0, false},
		{"soon", 0, 0, false},
	} {
		wait, ok := RetryAfter(c.header)
		if ok != c.ok || wait < c.min || wait > c.max {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v..%v, %v", c.header, wait, ok, c.min, c.max, c.ok)
		}
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep on a cancelled context = %v", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
