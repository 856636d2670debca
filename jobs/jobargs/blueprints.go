package jobargs

import (
	"time"

	"github.com/riverqueue/river"
)

// Inventory queues inventory commands for devices whose inventory is older
// than their blueprint's interval, and sets or rotates the recovery
// passwords blueprints ask for.
type Inventory struct{}

// Kind names the job.
func (Inventory) Kind() string { return "inventory" }

// InsertOpts keep one run queued or running at a time.
func (Inventory) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: queuedOrRunning}}
}

// DefaultInventoryEvery is how often the inventory job runs: a device is
// asked at most once per its blueprint's interval (4 hours or more), so a
// run finds few devices due.
const DefaultInventoryEvery = 15 * time.Minute
