package store

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// IdentityWarning is how early the identity metric counts a device whose
// identity certificate is about to expire: nothing renews it, so the device
// must reinstall its enrollment profile before then.
const IdentityWarning = 30 * 24 * time.Hour

// identityCollector exposes how many devices are about to lose, or lost,
// their identity certificate (and with it the ability to check in).
type identityCollector struct {
	store    *Store
	logger   *slog.Logger
	expiring *prometheus.Desc
	expired  *prometheus.Desc
}

// IdentityCollector returns a Prometheus collector of device identity expiry.
func (s *Store) IdentityCollector(logger *slog.Logger) prometheus.Collector {
	return &identityCollector{store: s, logger: logger,
		expiring: prometheus.NewDesc("orchard_devices_identity_expiring",
			"Enrolled devices whose identity certificate expires within 30 days.", nil, nil),
		expired: prometheus.NewDesc("orchard_devices_identity_expired",
			"Enrolled devices whose identity certificate has expired: they can no longer check in.", nil, nil),
	}
}

func (c *identityCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.expiring
	ch <- c.expired
}

func (c *identityCollector) Collect(ch chan<- prometheus.Metric) {
	// A scrape must not hang on a busy database.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	expired, expiring, err := c.store.IdentityExpiry(ctx, IdentityWarning)
	if err != nil {
		c.logger.Warn("device identity metrics unavailable", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.expiring, prometheus.GaugeValue, float64(expiring))
	ch <- prometheus.MustNewConstMetric(c.expired, prometheus.GaugeValue, float64(expired))
}
