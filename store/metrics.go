package store

import "github.com/prometheus/client_golang/prometheus"

// poolCollector exposes the connection pool's statistics on each scrape.
type poolCollector struct {
	s                              *Store
	total, idle, acquired, maxConn *prometheus.Desc
	acquireCount, acquireWait      *prometheus.Desc
}

// PoolCollector returns a Prometheus collector of the pool's statistics.
func (s *Store) PoolCollector() prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("orchard_db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{
		s:            s,
		total:        d("connections", "Open connections."),
		idle:         d("idle_connections", "Idle connections."),
		acquired:     d("acquired_connections", "Connections in use."),
		maxConn:      d("max_connections", "Largest pool size."),
		acquireCount: d("acquires_total", "Connections acquired."),
		acquireWait:  d("acquire_wait_seconds_total", "Time spent waiting for a connection."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.idle, c.acquired, c.maxConn, c.acquireCount, c.acquireWait} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.pool.Stat()
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(st.TotalConns()))
	ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(st.IdleConns()))
	ch <- prometheus.MustNewConstMetric(c.acquired, prometheus.GaugeValue, float64(st.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(c.maxConn, prometheus.GaugeValue, float64(st.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.acquireCount, prometheus.CounterValue, float64(st.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.acquireWait, prometheus.CounterValue, st.AcquireDuration().Seconds())
}
