package jobargs

import "github.com/riverqueue/river"

// ProfileReconcile brings devices' profiles in line with their blueprints:
// those of one blueprint, or some devices (one after its ProfileList answer,
// those an assignment moved into a blueprint). Not unique: a change made
// while a reconcile runs needs a run after it, and reconciles are idempotent
// and serialized per blueprint.
type ProfileReconcile struct {
	BlueprintID *int64  `json:"blueprint_id,omitempty"`
	DeviceIDs   []int64 `json:"device_ids,omitempty"`
	// DeviceID is the one device of jobs queued before DeviceIDs existed.
	DeviceID *int64 `json:"device_id,omitempty"`
}

// Devices is the job's device scope, nil for none.
func (a ProfileReconcile) Devices() []int64 {
	if a.DeviceID != nil {
		return append(append([]int64(nil), a.DeviceIDs...), *a.DeviceID)
	}
	return a.DeviceIDs
}

// Kind names the job.
func (ProfileReconcile) Kind() string { return "profile_reconcile" }

// InsertOpts: a failed reconcile (the database) is retried a few times.
func (ProfileReconcile) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }
