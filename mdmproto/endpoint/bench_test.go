package endpoint_test

import (
	"context"
	"testing"

	"github.com/micromdm/plist"
)

// BenchmarkIdle is one signed Idle request end to end (the device's signing
// included) with nothing queued: the hot path of a fleet checking in.
func BenchmarkIdle(b *testing.B) {
	ts := newServer(b)
	d := ts.enrolled()
	ctx := context.Background()
	body, _ := plist.Marshal(map[string]any{"UDID": d.UDID, "Status": "Idle"})
	for b.Loop() {
		if _, err := d.Send(ctx, d.Profile.ServerURL, "application/x-apple-aspen-mdm", body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommandRoundTrip queues a command, then connects: Idle, the
// command, its Acknowledged result (DeviceInformation facts applied), empty.
func BenchmarkCommandRoundTrip(b *testing.B) {
	ts := newServer(b)
	d := ts.enrolled()
	id := ts.deviceRow(d.UDID).ID
	ctx := context.Background()
	for b.Loop() {
		ts.queue(id, "DeviceInformation", nil)
		if n, err := d.Connect(ctx); err != nil || n != 1 {
			b.Fatalf("answered %d: %v", n, err)
		}
	}
}
