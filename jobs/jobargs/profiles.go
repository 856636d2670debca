package jobargs

import "github.com/riverqueue/river"

// ProfileReconcile brings devices' profiles in line with their blueprints:
// those of one blueprint, or one device (after its ProfileList answer).
// Not unique: a change made while a reconcile runs needs a run after it, and
// reconciles are idempotent and serialized per blueprint.
type ProfileReconcile struct {
	BlueprintID *int64 `json:"blueprint_id,omitempty"`
	DeviceID    *int64 `json:"device_id,omitempty"`
}

// Kind names the job.
func (ProfileReconcile) Kind() string { return "profile_reconcile" }

// InsertOpts: a failed reconcile (the database) is retried a few times.
func (ProfileReconcile) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }
