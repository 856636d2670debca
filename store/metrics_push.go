package store

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// pushCollector exposes what an alert on pushes needs: when each push
// certificate expires (every push stops then), how many tokens APNs
// refused, and the pushes waiting for a dispatcher (a backlog that ages
// means no process works jobs).
type pushCollector struct {
	store        *Store
	logger       *slog.Logger
	notAfter     *prometheus.Desc
	invalid      *prometheus.Desc
	wanted       *prometheus.Desc
	oldestWanted *prometheus.Desc
}

// PushCollector returns a Prometheus collector of push certificate expiry and invalid tokens.
func (s *Store) PushCollector(logger *slog.Logger) prometheus.Collector {
	return &pushCollector{store: s, logger: logger,
		notAfter: prometheus.NewDesc("orchard_apns_certificate_not_after_seconds",
			"When each push certificate expires, as a Unix time.", []string{"topic"}, nil),
		invalid: prometheus.NewDesc("orchard_apns_invalid_push_tokens",
			"Devices whose push token APNs reported gone (410 or BadDeviceToken).", nil, nil),
		wanted: prometheus.NewDesc("orchard_apns_pushes_wanted",
			"Devices whose push was asked for and not yet queued as a push job.", nil, nil),
		oldestWanted: prometheus.NewDesc("orchard_apns_oldest_wanted_push_seconds",
			"How long the oldest push asked for has waited to be queued (0: none waits).", nil, nil),
	}
}

func (c *pushCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.notAfter
	ch <- c.invalid
	ch <- c.wanted
	ch <- c.oldestWanted
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
	backlog, err := c.store.WantedPushBacklog(ctx)
	if err != nil {
		c.logger.Warn("wanted push metrics unavailable", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.wanted, prometheus.GaugeValue, float64(backlog.Devices))
	ch <- prometheus.MustNewConstMetric(c.oldestWanted, prometheus.GaugeValue, backlog.OldestAge.Seconds())
}
