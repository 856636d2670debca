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

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	// A scrape must not hang on a busy database.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := c.pool.Query(ctx, `SELECT queue, state::text, count(*) FROM river_job
		WHERE state IN ('available', 'scheduled', 'retryable', 'running', 'pending') GROUP BY 1, 2`)
	if err != nil {
		c.logger.Warn("queue depth metric unavailable", "err", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var queue, state string
		var n int64
		if err := rows.Scan(&queue, &state, &n); err != nil {
			c.logger.Warn("queue depth metric unavailable", "err", err)
			return
		}
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n), queue, state)
	}
}
