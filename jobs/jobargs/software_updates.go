package jobargs

import "github.com/riverqueue/river"

// SoftwareUpdateSync fetches Apple's software update catalog and replaces
// the stored one with it.
type SoftwareUpdateSync struct{}

// Kind names the job.
func (SoftwareUpdateSync) Kind() string { return "software_update_sync" }

// InsertOpts keep one sync queued or running; asking again while one waits
// returns that one. A failed fetch is retried with River's backoff.
func (SoftwareUpdateSync) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 8, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: queuedOrRunning}}
}
