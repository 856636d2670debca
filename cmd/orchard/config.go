package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/jobs"
	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/mdmproto/apns"
	"github.com/orchardmdm/orchard/mdmproto/dep"
	"github.com/orchardmdm/orchard/mdmproto/swupdate"
)

// Config is every setting of orchard, filled from flags and ORCHARD_* variables
// (a flag wins over its variable).
type Config struct {
	DataDir     string
	DatabaseURL string
	SecretKey   string
	Listen      string
	// DebugListen serves Go's profiles when set (no authentication).
	DebugListen     string
	TLSCert         string
	TLSKey          string
	PublicURL       string
	Role            string
	NoMigrate       bool
	LogLevel        string
	LogFormat       string
	MaxWorkers      int
	MaxDBConns      int
	ComplexityLimit int
	DepthLimit      int
	GraphQL         graph.Limits
	ShutdownTimeout time.Duration
	MDM             MDMConfig
	APNsURL         string
	APNsConcurrency int
	PushWindow      time.Duration
	DEPURL          string
	DEPSyncInterval time.Duration
	// SoftwareUpdateURL serves Apple's software update catalog (/v2/pmv).
	SoftwareUpdateURL          string
	SoftwareUpdateSyncInterval time.Duration
	// InventoryCheckInterval is how often the inventory job looks for
	// devices whose blueprint's inventory interval has passed.
	InventoryCheckInterval time.Duration
	AppsBooks              AppsBooksConfig

	// GraphQLIntrospection serves the schema to introspection queries.
	GraphQLIntrospection bool
}

// settings binds flags to their environment variables and documents both.
type settings struct{ fs *flag.FlagSet }

func (s settings) usage(text, env string) string { return text + " (env " + env + ")" }

func (s settings) str(p *string, name, env, def, text string) {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	s.fs.StringVar(p, name, def, s.usage(text, env))
}

func (s settings) integer(p *int, name, env string, def int, text string) {
	if v, ok := os.LookupEnv(env); ok {
		if n, err := strconv.Atoi(v); err == nil {
			def = n
		} else {
			fmt.Fprintf(os.Stderr, "warning: %s=%q is not a number; using %d\n", env, v, def)
		}
	}
	s.fs.IntVar(p, name, def, s.usage(text, env))
}

func (s settings) boolean(p *bool, name, env string, def bool, text string) {
	if v, ok := os.LookupEnv(env); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			def = b
		}
	}
	s.fs.BoolVar(p, name, def, s.usage(text, env))
}

func (s settings) duration(p *time.Duration, name, env string, def time.Duration, text string) {
	if v, ok := os.LookupEnv(env); ok {
		if d, err := time.ParseDuration(v); err == nil {
			def = d
		}
	}
	s.fs.DurationVar(p, name, def, s.usage(text, env))
}

// bindDatabase adds the settings every command that opens the database needs.
// Short commands log at warn by default: their output is what the user asked for.
func bindDatabase(fs *flag.FlagSet, c *Config, logLevel string) {
	s := settings{fs}
	s.str(&c.DataDir, "data-dir", "ORCHARD_DATA_DIR", "./orchard-data",
		"directory for orchard's own files: the embedded PostgreSQL cluster and the secret key file")
	s.str(&c.DatabaseURL, "database-url", "ORCHARD_DATABASE_URL", "",
		"PostgreSQL connection string; empty: run a private cluster in the data directory")
	s.str(&c.SecretKey, "secret-key", "ORCHARD_SECRET_KEY", "",
		"key(s) sealing secrets at rest, \"id:base64key[,old-id:base64key]\"; empty: a key file in the data directory (every process sharing a database needs the same key)")
	bindLogging(fs, c, logLevel)
}

// bindLogging adds the log settings; logs go to standard error.
func bindLogging(fs *flag.FlagSet, c *Config, logLevel string) {
	s := settings{fs}
	s.str(&c.LogLevel, "log-level", "ORCHARD_LOG_LEVEL", logLevel, "debug, info, warn or error")
	s.str(&c.LogFormat, "log-format", "ORCHARD_LOG_FORMAT", "text", "text or json")
}

// bindServe adds the settings of `orchard serve`.
func bindServe(fs *flag.FlagSet, c *Config) {
	bindDatabase(fs, c, "info")
	s := settings{fs}
	s.str(&c.Listen, "listen", "ORCHARD_LISTEN", ":8080", "HTTP listen address")
	s.str(&c.DebugListen, "debug-listen", "ORCHARD_DEBUG_LISTEN", "",
		"address serving Go's profiles at /debug/pprof/, without authentication: loopback or a private network only; empty: off")
	s.str(&c.TLSCert, "tls-cert", "ORCHARD_TLS_CERT", "",
		"PEM certificate (with its chain) to serve HTTPS and HTTP/2 directly; reloaded on SIGHUP. Apple devices need HTTPS")
	s.str(&c.TLSKey, "tls-key", "ORCHARD_TLS_KEY", "", "PEM private key of --tls-cert; reloaded on SIGHUP")
	s.str(&c.PublicURL, "public-url", "ORCHARD_PUBLIC_URL", "http://localhost:8080",
		"the URL devices and people reach orchard at (enrollment profiles use it)")
	s.str(&c.Role, "role", "ORCHARD_ROLE", "all",
		"api (HTTP only), worker (River jobs, plus /healthz and /metrics) or all")
	s.boolean(&c.NoMigrate, "no-migrate", "ORCHARD_NO_MIGRATE", false, "do not apply migrations on start")
	s.integer(&c.MaxWorkers, "max-workers", "ORCHARD_MAX_WORKERS", 20, "jobs run at once by this process")
	s.integer(&c.MaxDBConns, "max-db-conns", "ORCHARD_MAX_DB_CONNS", 40, "PostgreSQL connections of this process")
	s.integer(&c.ComplexityLimit, "graphql-complexity-limit", "ORCHARD_GRAPHQL_COMPLEXITY_LIMIT", 25000,
		"largest GraphQL operation complexity (fields, lists weighted by page size)")
	s.integer(&c.DepthLimit, "graphql-depth-limit", "ORCHARD_GRAPHQL_DEPTH_LIMIT", 15, "deepest GraphQL selection nesting")
	s.boolean(&c.GraphQLIntrospection, "graphql-introspection", "ORCHARD_GRAPHQL_INTROSPECTION", true,
		"answer GraphQL introspection (__schema, __type), with or without a token; GraphiQL needs it")
	bindGraphQLLimits(s, &c.GraphQL)
	s.duration(&c.ShutdownTimeout, "shutdown-timeout", "ORCHARD_SHUTDOWN_TIMEOUT", 30*time.Second,
		"how long SIGTERM waits for requests and jobs to finish")
	bindMDM(fs, &c.MDM)
	s.str(&c.APNsURL, "apns-url", "ORCHARD_APNS_URL", apns.ProductionURL, "APNs base URL (a local mock in tests)")
	s.integer(&c.APNsConcurrency, "apns-concurrency", "ORCHARD_APNS_CONCURRENCY", 100,
		"APNs pushes in flight at once by this process")
	s.duration(&c.PushWindow, "push-window", "ORCHARD_PUSH_WINDOW", jobs.DefaultPushConfig().Window,
		"shortest time between two pushes to one device; requests inside it are coalesced into one push")
	s.str(&c.DEPURL, "dep-url", "ORCHARD_DEP_URL", dep.DefaultBaseURL,
		"Apple's DEP service (point it at orchard depsim to try DEP without Apple)")
	s.duration(&c.DEPSyncInterval, "dep-sync-interval", "ORCHARD_DEP_SYNC_INTERVAL", 30*time.Minute,
		"how often every DEP virtual server syncs its devices; 0 turns periodic syncs off")
	bindAppsBooks(s, &c.AppsBooks)
	s.str(&c.SoftwareUpdateURL, "software-update-url", "ORCHARD_SOFTWARE_UPDATE_URL", swupdate.DefaultBaseURL,
		"Apple's software update catalog service (point it at orchard swupdatesim to try without Apple)")
	s.duration(&c.SoftwareUpdateSyncInterval, "software-update-sync-interval", "ORCHARD_SOFTWARE_UPDATE_SYNC_INTERVAL",
		24*time.Hour, "how often Apple's software update catalog syncs; 0 turns periodic syncs off")
	s.duration(&c.InventoryCheckInterval, "inventory-check-interval", "ORCHARD_INVENTORY_CHECK_INTERVAL",
		jobargs.DefaultInventoryEvery, "how often the inventory job queues the inventories (and recovery passwords) that are due; 0 turns it off, otherwise at least 1m")
}

// bindGraphQLLimits adds the bounds of one GraphQL request from a caller with
// a token; callers without one get graph.DefaultLimits' much smaller ones.
func bindGraphQLLimits(s settings, l *graph.Limits) {
	d := graph.DefaultLimits()
	l.Anonymous = d.Anonymous
	s.integer(&l.Document.RequestBytes, "graphql-max-request-bytes", "ORCHARD_GRAPHQL_MAX_REQUEST_BYTES", d.Document.RequestBytes,
		"largest GraphQL request body or websocket message (uploads excepted)")
	s.integer(&l.Document.Bytes, "graphql-max-document-bytes", "ORCHARD_GRAPHQL_MAX_DOCUMENT_BYTES", d.Document.Bytes,
		"largest GraphQL query text")
	s.integer(&l.Document.Tokens, "graphql-max-tokens", "ORCHARD_GRAPHQL_MAX_TOKENS", d.Document.Tokens,
		"most lexical tokens in one GraphQL document")
	s.integer(&l.Document.Fields, "graphql-max-fields", "ORCHARD_GRAPHQL_MAX_FIELDS", d.Document.Fields,
		"most selections (fields and fragment spreads) in one GraphQL document")
	s.integer(&l.Document.Aliases, "graphql-max-aliases", "ORCHARD_GRAPHQL_MAX_ALIASES", d.Document.Aliases,
		"most aliases in one GraphQL document")
	s.integer(&l.Document.VariableValues, "graphql-max-variable-values", "ORCHARD_GRAPHQL_MAX_VARIABLE_VALUES",
		d.Document.VariableValues, "most JSON values in one request's variables")
	s.integer(&l.Errors, "graphql-max-errors", "ORCHARD_GRAPHQL_MAX_ERRORS", d.Errors, "most errors in one GraphQL response")
	s.integer(&l.ResponseBytes, "graphql-max-response-bytes", "ORCHARD_GRAPHQL_MAX_RESPONSE_BYTES", d.ResponseBytes,
		"largest data of one GraphQL response")
	s.integer(&l.CallerDBConcurrency, "graphql-caller-db-concurrency", "ORCHARD_GRAPHQL_CALLER_DB_CONCURRENCY",
		d.CallerDBConcurrency, "resolvers of one API token running at once")
	s.integer(&l.DBConcurrency, "graphql-db-concurrency", "ORCHARD_GRAPHQL_DB_CONCURRENCY", 0,
		"resolvers of all callers running at once; 0: half of --max-db-conns")
}

func (c *Config) validate() error {
	switch c.Role {
	case "api", "worker", "all":
	default:
		return fmt.Errorf("--role must be api, worker or all, not %q", c.Role)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format must be text or json, not %q", c.LogFormat)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if err := c.MDM.validate(); err != nil {
		return err
	}
	if u, err := url.Parse(c.APNsURL); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--apns-url must be an https URL, not %q", c.APNsURL)
	}
	if c.APNsConcurrency < 1 || c.PushWindow <= 0 {
		return fmt.Errorf("--apns-concurrency must be at least 1 and --push-window positive")
	}
	if c.DEPSyncInterval != 0 && c.DEPSyncInterval < time.Minute {
		return fmt.Errorf("--dep-sync-interval must be 0 or at least 1m, not %s", c.DEPSyncInterval)
	}
	if c.GraphQL.DBConcurrency == 0 {
		c.GraphQL.DBConcurrency = max(c.MaxDBConns/2, 1)
	}
	if c.InventoryCheckInterval != 0 && c.InventoryCheckInterval < time.Minute {
		return fmt.Errorf("--inventory-check-interval must be 0 or at least 1m, not %s", c.InventoryCheckInterval)
	}
	if c.SoftwareUpdateSyncInterval != 0 && c.SoftwareUpdateSyncInterval < time.Hour {
		return fmt.Errorf("--software-update-sync-interval must be 0 or at least 1h, not %s", c.SoftwareUpdateSyncInterval)
	}
	if err := swupdate.CheckBaseURL(c.SoftwareUpdateURL); err != nil {
		return fmt.Errorf("--software-update-url: %w", err)
	}
	if err := c.AppsBooks.validate(); err != nil {
		return err
	}
	if c.MaxWorkers < 1 || c.MaxDBConns < 4 {
		return fmt.Errorf("--max-workers must be at least 1 and --max-db-conns at least 4")
	}
	return nil
}
