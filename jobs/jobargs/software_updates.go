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

// SoftwareUpdateEnforce sends a blueprint's software update enforcement to
// its devices of one platform. Not unique: a run reads the setting when it
// starts, so a change made while one runs needs a run of its own; repeated
// runs send nothing twice (a device with a ScheduleOSUpdate pending is skipped).
type SoftwareUpdateEnforce struct {
	BlueprintID int64  `json:"blueprint_id"`
	Platform    string `json:"platform"`
}

// Kind names the job.
func (SoftwareUpdateEnforce) Kind() string { return "software_update_enforce" }

// InsertOpts retry a failed run a few times.
func (SoftwareUpdateEnforce) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }
