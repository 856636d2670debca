package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/graphiql"
	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/apns"
	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
	"github.com/orchardmdm/orchard/mdmproto/endpoint"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
	"github.com/orchardmdm/orchard/store/events"
)

func serveCommand(ctx context.Context, args []string, stderr io.Writer) error {
	var cfg Config
	fs := newFlagSet("serve", stderr)
	bindServe(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	return serve(ctx, &cfg, logger, nil)
}

// serve runs orchard until ctx ends. ready, when set, receives the listener's
// address once requests are being served (tests listen on port 0).
func serve(ctx context.Context, cfg *Config, logger *slog.Logger, ready chan<- string) error {
	db, err := openDatabase(ctx, cfg, logger, cfg.MaxDBConns, createDataDir)
	if err != nil {
		return err
	}
	defer db.close(context.WithoutCancel(ctx))
	if !cfg.NoMigrate {
		if err := store.Migrate(ctx, db.store.Pool(), logger); err != nil {
			return err
		}
	}
	app, err := newApp(ctx, cfg, db.store, logger)
	if err != nil {
		return err
	}
	return app.run(ctx, ready)
}

// app is one orchard process: its River client, event broker and HTTP server.
type app struct {
	cfg    *Config
	logger *slog.Logger
	store  *store.Store
	river  *jobs.Client
	broker *events.Broker
	// publisher sends the device path's status events in batches.
	publisher *events.Publisher
	apns      *apns.Pool
	service   *service.Service
	handler   http.Handler
	mdm       *endpoint.Endpoint
}

func newApp(ctx context.Context, cfg *Config, s *store.Store, logger *slog.Logger) (*app, error) {
	ec, err := mdmEndpointConfig(ctx, cfg, s, logger, s.PushTopic)
	if err != nil {
		return nil, err
	}
	publisher := events.NewPublisher(s.Pool(), logger)
	svc, err := newService(cfg, s, logger, endpoint.ProfilesOf(ec), publisher)
	if err != nil {
		return nil, err
	}
	tokens, err := auth.NewTokens(ctx, s, svc)
	if err != nil {
		return nil, err
	}
	pushes := apns.New(apns.Config{URL: cfg.APNsURL, Concurrency: cfg.APNsConcurrency})
	swupdates, err := newSoftwareUpdateClient(cfg.SoftwareUpdateURL)
	if err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	if err := jobs.Register(workers, jobs.Deps{Store: s, Logger: logger, APNs: pushes,
		Push: jobs.PushConfig{Window: cfg.PushWindow}, Service: svc, DEPAssignPause: time.Second,
		SoftwareUpdates: swupdates}); err != nil {
		return nil, err
	}
	schedule := jobs.DefaultSchedule()
	schedule.DEPSync = cfg.DEPSyncInterval
	schedule.SoftwareUpdateSync = cfg.SoftwareUpdateSyncInterval
	schedule.Inventory = cfg.InventoryCheckInterval
	schedule.LocationSync = cfg.AppsBooks.SyncInterval
	riverClient, err := jobs.NewClient(s.Pool(), workers, jobs.Config{
		Work: cfg.Role != "api", MaxWorkers: cfg.MaxWorkers, Logger: logger,
		Periodic: jobs.PeriodicJobs(schedule),
	})
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, logger: logger, store: s, river: riverClient, broker: events.NewBroker(s.Pool(), logger),
		publisher: publisher, apns: pushes, service: svc}
	if cfg.Role != "worker" {
		ec.Devices = svc
		if a.mdm, err = endpoint.New(ec); err != nil {
			return nil, err
		}
	}
	a.handler = a.routes(tokens)
	return a, nil
}

func (a *app) routes(tokens *auth.Tokens) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		a.store.PoolCollector(), a.store.JobQueueCollector(a.logger), a.store.PushCollector(a.logger),
		a.store.IdentityCollector(a.logger))
	metrics := newHTTPMetrics(reg)
	mux := http.NewServeMux()
	route := func(pattern string, h http.Handler) { mux.Handle(pattern, metrics.wrap(pattern, h)) }

	route("GET /healthz", http.HandlerFunc(a.healthz))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if a.cfg.Role == "worker" {
		return mux
	}
	resolver := &graph.Resolver{Store: a.store, Jobs: a.river, Events: a.broker, Logger: a.logger, PublicURL: a.cfg.PublicURL,
		PushTopic: a.store.PushTopic, Service: a.service, Tokens: tokens}
	a.mdm.Register(route)
	limits := a.cfg.GraphQL
	limits.Complexity, limits.Depth = a.cfg.ComplexityLimit, a.cfg.DepthLimit
	route("POST "+service.NotificationPath+"{id}", appsbooks.NotificationHandler(a.service))
	route("/graphql", graph.NewHandler(graph.HandlerConfig{
		Resolver: resolver, Tokens: tokens, Logger: a.logger, Metrics: reg, Limits: limits,
		NoIntrospection: !a.cfg.GraphQLIntrospection,
	}))
	route("/", graphiql.Handler("/graphql"))
	return mux
}

// newService builds the rules every edge and job calls, with an insert-only
// River client of its own: it queues jobs whatever this process's role.
// profiles may be nil where no identity is renewed (short CLI commands).
func newService(cfg *Config, s *store.Store, logger *slog.Logger, profiles *mdmproto.EnrollmentProfiles,
	publisher *events.Publisher) (*service.Service, error) {
	inserter, err := jobargs.NewInserter(s.Pool(), logger)
	if err != nil {
		return nil, err
	}
	return service.New(service.Config{Store: s, Jobs: inserter, Logger: logger, PublicURL: cfg.PublicURL,
		DEP: service.DEPConfig{BaseURL: cfg.DEPURL}, Profiles: profiles, AppsBooks: service.AppsBooksConfig{BaseURL: cfg.AppsBooks.URL},
		ProfileSigner: embeddedCASigner(s), Events: publisher}), nil
}

// healthz answers 200 only while the database answers.
func (a *app) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		a.logger.Warn("health check failed", "err", err)
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// run serves until ctx ends, then drains HTTP and stops River softly: running
// jobs get the shutdown timeout to finish before they are cancelled.
func (a *app) run(ctx context.Context, ready chan<- string) error {
	// bg outlives ctx until HTTP has drained: subscriptions and the event
	// broker end with it. River stops through Stop, never by cancellation.
	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	go a.broker.Run(bg)
	go a.publisher.Run(bg)
	if a.cfg.DebugListen != "" {
		if err := serveDebug(bg, a.cfg.DebugListen, a.logger); err != nil {
			return fmt.Errorf("debug listener: %w", err)
		}
	}
	if a.cfg.Role != "api" {
		if err := a.river.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("start jobs: %w", err)
		}
		go jobs.RunBesideWorkers(bg, a.river, a.store, a.broker, a.publisher, a.logger)
	}

	srv, addr, serveErr, err := a.listen(bg)
	if err != nil {
		return err
	}
	a.logger.Info("orchard is serving", "addr", addr, "tls", a.cfg.TLSCert != "", "role", a.cfg.Role, "public_url", a.cfg.PublicURL)
	if ready != nil {
		ready <- addr
	}

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	a.logger.Info("shutting down", "timeout", a.cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	// Requests in flight finish with their context intact; websockets
	// (hijacked, so Shutdown does not wait for them) and the event broker end
	// with the background context once the rest has drained.
	httpErr := srv.Shutdown(shutdownCtx)
	stopBackground()
	if a.cfg.Role != "api" {
		if err := a.river.Stop(shutdownCtx); err != nil {
			a.logger.Warn("jobs did not finish in time; cancelling them", "err", err)
			_ = a.river.StopAndCancel(context.Background())
		}
	}
	a.apns.Close()
	if httpErr != nil && !errors.Is(httpErr, context.DeadlineExceeded) {
		return httpErr
	}
	return nil
}

// listen starts serving HTTP, or HTTPS with HTTP/2 when a certificate is
// configured (reloaded on SIGHUP until bg ends).
func (a *app) listen(bg context.Context) (*http.Server, string, <-chan error, error) {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return bg },
	}
	var certs *certReloader
	if a.cfg.TLSCert != "" {
		var err error
		if certs, err = newCertReloader("TLS", a.cfg.TLSCert, a.cfg.TLSKey, a.logger); err != nil {
			return nil, "", nil, err
		}
		srv.TLSConfig = certs.tlsConfig()
	}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return nil, "", nil, err
	}
	serveErr := make(chan error, 1)
	if certs != nil {
		go certs.reloadOnHangup(bg)
		go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { serveErr <- srv.Serve(ln) }()
	}
	return srv, ln.Addr().String(), serveErr, nil
}
