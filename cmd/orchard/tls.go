package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// certReloader serves a certificate and key from files and reloads them on
// SIGHUP, so a renewed certificate (certbot, an ACME client, an operator)
// takes effect without a restart. A pair that does not load keeps the
// current one in service.
type certReloader struct {
	// what the pair is for, in errors and logs: "TLS", "profile signing".
	what              string
	certFile, keyFile string
	logger            *slog.Logger
	cert              atomic.Pointer[tls.Certificate]
}

func newCertReloader(what, certFile, keyFile string, logger *slog.Logger) (*certReloader, error) {
	r := &certReloader{what: what, certFile: certFile, keyFile: keyFile, logger: logger}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) reload() error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("%s certificate %s and key %s: %w", r.what, r.certFile, r.keyFile, err)
	}
	if cert.Leaf == nil {
		return fmt.Errorf("%s certificate %s: no leaf certificate", r.what, r.certFile)
	}
	r.cert.Store(&cert)
	return nil
}

// tlsConfig serves whichever certificate was loaded last; HTTP/2 is
// negotiated by http.Server.ServeTLS.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cert.Load(), nil
		},
	}
}

// reloadOnHangup reloads the pair at every SIGHUP until ctx ends.
func (r *certReloader) reloadOnHangup(ctx context.Context) {
	hangups := make(chan os.Signal, 1)
	signal.Notify(hangups, syscall.SIGHUP)
	defer signal.Stop(hangups)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hangups:
		}
		if err := r.reload(); err != nil {
			r.logger.Error("certificate not reloaded; keeping the previous one", "for", r.what, "err", err)
			continue
		}
		leaf := r.cert.Load().Leaf
		r.logger.Info("reloaded certificate", "for", r.what, "file", r.certFile, "subject", leaf.Subject.String(),
			"not_after", leaf.NotAfter)
	}
}
