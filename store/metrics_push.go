package store

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// pushCollector exposes what an alert on pushes needs: when each push
// certificate expires (every push stops then) and how many tokens APNs refused.
type pushCollector struct {
	store    *Store
	logger   *slog.Logger
	notAfter *prometheus.Desc
	invalid  *prometheus.Desc
}

// PushCollector returns a Prometheus collector of push certificate expiry and invalid tokens.
func (s *Store) PushCollector(logger *slog.Logger) prometheus.Collector {
	return &pushCollector{store: s, logger: logger,
		notAfter: prometheus.NewDesc("orchard_apns_certificate_not_after_seconds",
			"When each push certificate expires, as a Unix time.", []string{"topic"}, nil),
		invalid: prometheus.NewDesc("orchard_apns_invalid_push_tokens",
			"Devices whose push token APNs reported gone (410 or BadDeviceToken).", nil, nil),
	}
}

func (c *pushCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.notAfter
	ch <- c.invalid
}

func (c *pushCollector) Collect(ch chan<- prometheus.Metric) {
	// A scrape must not hang on a busy database.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	certs, err := c.store.ListPushCertificates(ctx)
	if err != nil {
		c.logger.Warn("push certificate metrics unavailable", "err", err)
		return
	}
	for _, cert := range certs {
		ch <- prometheus.MustNewConstMetric(c.notAfter, prometheus.GaugeValue, float64(cert.NotAfter.Unix()), cert.Topic)
	}
	n, err := c.store.CountInvalidPushTokens(ctx)
	if err != nil {
		c.logger.Warn("push token metrics unavailable", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.invalid, prometheus.GaugeValue, float64(n))
}
