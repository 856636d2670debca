package jobs

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// Client is the River client every part of orchard enqueues through.
type Client = river.Client[pgx.Tx]

// A job left running by a process that died (kill -9, OOM, a lost machine)
// is rescued once it has run longer than its own timeout: River's rescuer
// looks at jobs older than RescueStuckJobsAfter and then honours each worker's
// Timeout, so long jobs (DEP syncs) declare theirs and every other job is
// back in the queue within minutes, not the 45 it used to wait.
const (
	DefaultJobTimeout    = 2 * time.Minute
	RescueStuckJobsAfter = DefaultJobTimeout
)

// Config shapes the River client.
type Config struct {
	// Work makes this process run jobs; false makes an insert-only client (role api).
	Work bool
	// MaxWorkers bounds concurrent jobs on the default queue.
	MaxWorkers int
	Logger     *slog.Logger
	// Periodic jobs run only where Work is true; River elects one leader for them.
	Periodic []*river.PeriodicJob
}

// NewClient builds the River client. Workers come from Register.
func NewClient(pool *pgxpool.Pool, workers *river.Workers, cfg Config) (*Client, error) {
	rc := &river.Config{
		Logger:               cfg.Logger,
		JobTimeout:           DefaultJobTimeout,
		RescueStuckJobsAfter: RescueStuckJobsAfter,
	}
	if cfg.Work {
		maxWorkers := cfg.MaxWorkers
		if maxWorkers <= 0 {
			maxWorkers = 20
		}
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}}
		rc.Workers = workers
		rc.PeriodicJobs = cfg.Periodic
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("jobs: new river client: %w", err)
	}
	return client, nil
}
