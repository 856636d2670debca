package store

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// queueCollector exposes how many jobs wait or run, per queue and state.
type queueCollector struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	depth  *prometheus.Desc
}

// JobQueueCollector returns a Prometheus collector of River's queue depth.
// River's API lists jobs but does not count them, so this one query reads its
// table directly (read-only, by the states River indexes).
func (s *Store) JobQueueCollector(logger *slog.Logger) prometheus.Collector {
	return &queueCollector{pool: s.pool, logger: logger, depth: prometheus.NewDesc("orchard_jobs_queue_depth",
		"Jobs not yet finished, by queue and state.", []string{"queue", "state"}, nil)}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth }

// queueStates are the states of jobs not yet finished; each is reported,
// zero included, so alerts and graphs see the series before the first job.
var queueStates = []string{"available", "scheduled", "retryable", "running", "pending"}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	// A scrape must not hang on a busy database.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	depth, err := c.depths(ctx)
	if err != nil {
		c.logger.Warn("queue depth metric unavailable", "err", err)
		return
	}
	for queue, states := range depth {
		for _, state := range queueStates {
			ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(states[state]), queue, state)
		}
	}
}

// depths counts unfinished jobs per queue and state; the default queue is
// always there.
func (c *queueCollector) depths(ctx context.Context) (map[string]map[string]int64, error) {
	rows, err := c.pool.Query(ctx, `SELECT queue, state::text, count(*) FROM river_job
		WHERE state IN ('available', 'scheduled', 'retryable', 'running', 'pending') GROUP BY 1, 2`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	depth := map[string]map[string]int64{"default": {}}
	for rows.Next() {
		var queue, state string
		var n int64
		if err := rows.Scan(&queue, &state, &n); err != nil {
			return nil, err
		}
		if depth[queue] == nil {
			depth[queue] = map[string]int64{}
		}
		depth[queue][state] = n
	}
	return depth, rows.Err()
}
