// Package endpoint is orchard's device-facing HTTP edge: enrollment profiles
// (/enroll/<secret>), the embedded SCEP CA (/scep) and the MDM check-in and
// command channel (/mdm/checkin, /mdm/connect).
package endpoint

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/ddm"
	"github.com/orchardmdm/orchard/mdmproto/scep"
)

// Paths devices are given in enrollment profiles.
const (
	CheckinPath = mdmproto.CheckinPath
	ServerPath  = mdmproto.ServerPath
	SCEPPath    = mdmproto.SCEPPath
	EnrollPath  = mdmproto.EnrollPath
)

// Body limits: check-ins are small; command reports may carry app or
// certificate lists.
const (
	DefaultMaxCheckinBytes = 2 << 20
	DefaultMaxReportBytes  = 20 << 20
)

// Config is what the device-facing endpoint is built from.
type Config struct {
	Devices Devices
	// CA is the embedded SCEP CA; nil when an external SCEP server issues
	// identities (then ExternalSCEPURL and TrustedCAs are required).
	CA              *scep.CA
	ExternalSCEPURL string
	// ExternalSCEPChallenge is the static challenge of the external SCEP server.
	ExternalSCEPChallenge string
	// ProfileSigningIdentity, if set, signs enrollment profiles
	// (mdmproto.EnrollmentProfiles.SigningIdentity).
	ProfileSigningIdentity func() *tls.Certificate
	// TrustedCAs are the certificates device identities must chain to,
	// besides the embedded CA (an external CA's full chain).
	TrustedCAs []*x509.Certificate
	// PublicURL is where devices reach orchard.
	PublicURL string
	// PushTopic returns the push certificate's topic; "" (or a nil func)
	// means there is no push certificate yet.
	PushTopic func(ctx context.Context) (string, error)
	// MTLSProxy trusts X-SSL-Client-Cert from a TLS-terminating proxy instead
	// of Mdm-Signature. Only for deployments where devices cannot reach
	// orchard except through that proxy.
	MTLSProxy bool
	// MaxCheckinBytes and MaxReportBytes bound one body (413 over them).
	MaxCheckinBytes int64
	MaxReportBytes  int64
	// BodyReadTimeout is how long a client has to send a whole body, on
	// every device route (408 after it).
	BodyReadTimeout time.Duration
	// Bodies over LargeBodyThreshold bytes share LargeBodyBudget bytes per
	// process (503 with Retry-After when it is spent): concurrent clients
	// cannot pin more memory than that. The budget is raised to the largest
	// body limit if smaller.
	LargeBodyThreshold int64
	LargeBodyBudget    int64
	Logger             *slog.Logger
}

// Endpoint serves devices.
type Endpoint struct {
	cfg      Config
	devices  Devices
	profiles *mdmproto.EnrollmentProfiles
	verifier *mdmproto.Verifier
	budget   *bodyBudget
	log      *slog.Logger
}

// New checks the configuration and builds the endpoint.
func New(cfg Config) (*Endpoint, error) {
	trusted := append([]*x509.Certificate(nil), cfg.TrustedCAs...)
	if cfg.CA != nil {
		trusted = append(trusted, cfg.CA.Cert)
	} else if cfg.ExternalSCEPURL == "" {
		return nil, errors.New("endpoint: no embedded CA and no external SCEP URL")
	}
	v, err := mdmproto.NewVerifier(trusted)
	if err != nil {
		return nil, err
	}
	cfg.setBodyDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &Endpoint{cfg: cfg, devices: cfg.Devices, profiles: ProfilesOf(cfg), verifier: v, log: cfg.Logger,
		budget: newBodyBudget(cfg.LargeBodyBudget, cfg.LargeBodyThreshold)}, nil
}

func (c *Config) setBodyDefaults() {
	if c.MaxCheckinBytes <= 0 {
		c.MaxCheckinBytes = DefaultMaxCheckinBytes
	}
	if c.MaxReportBytes <= 0 {
		c.MaxReportBytes = DefaultMaxReportBytes
	}
	if c.BodyReadTimeout <= 0 {
		c.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if c.LargeBodyThreshold <= 0 {
		c.LargeBodyThreshold = DefaultLargeBodyThreshold
	}
	if c.LargeBodyBudget <= 0 {
		c.LargeBodyBudget = DefaultLargeBodyBudget
	}
	// A budget smaller than one allowed body would refuse that body forever.
	c.LargeBodyBudget = max(c.LargeBodyBudget, c.MaxCheckinBytes, c.MaxReportBytes)
}

// Register adds the endpoint's routes.
func (e *Endpoint) Register(route func(pattern string, h http.Handler)) {
	timed := func(h http.Handler) http.Handler { return bodyDeadline(e.cfg.BodyReadTimeout, h) }
	mdm := timed(http.HandlerFunc(e.serveMDM))
	route(CheckinPath, mdm)
	route(ServerPath, mdm)
	route(EnrollPath+"{secret}", timed(http.HandlerFunc(e.serveEnroll)))
	route("GET "+ddm.ProfileAssetPath+"{id}", timed(http.HandlerFunc(e.serveProfileAsset)))
	if e.cfg.CA != nil {
		route(SCEPPath, timed(scep.Handler(e.cfg.CA, scepEnroller{e.devices}, e.log)))
	} else {
		// Devices use the external SCEP server; /scep must not fall through
		// to whatever serves "/" (the GraphiQL page).
		route(SCEPPath, http.NotFoundHandler())
	}
}

// Handler serves every route on its own mux (tests, simple setups).
func (e *Endpoint) Handler() http.Handler {
	mux := http.NewServeMux()
	e.Register(func(p string, h http.Handler) { mux.Handle(p, h) })
	return mux
}

// scepEnroller lets the SCEP CA spend challenges.
type scepEnroller struct{ d Devices }

func (e scepEnroller) Enroll(ctx context.Context, challenge string, issue func() (*x509.Certificate, error)) error {
	return e.d.ConsumeSCEPChallenge(ctx, challenge, issue)
}

// caPurpose names the embedded CA in server_keys.
const caPurpose = "scep_ca"

// LoadCA returns the embedded SCEP CA, generating it (stored sealed) on first start.
func LoadCA(ctx context.Context, s ServerKeys) (*scep.CA, error) {
	bundle, err := s.ServerKey(ctx, caPurpose, func() ([]byte, error) { return scep.GenerateCA("orchard SCEP CA") })
	if err != nil {
		return nil, err
	}
	return scep.ParseCA(bundle)
}

// PlaceholderTopic stands in the profile until a push certificate exists.
const PlaceholderTopic = mdmproto.PlaceholderTopic

// ProfilesOf is the enrollment profiles an endpoint configured so serves;
// the service sends the same to renew identities.
func ProfilesOf(cfg Config) *mdmproto.EnrollmentProfiles {
	p := &mdmproto.EnrollmentProfiles{PublicURL: cfg.PublicURL, MTLSProxy: cfg.MTLSProxy, PushTopic: cfg.PushTopic,
		ExternalSCEPURL: cfg.ExternalSCEPURL, ExternalSCEPChallenge: cfg.ExternalSCEPChallenge,
		SigningIdentity: cfg.ProfileSigningIdentity}
	if cfg.CA != nil {
		p.CACert, p.CAKey = cfg.CA.Cert, cfg.CA.Key
	}
	return p
}

// challengeTTL bounds how long after a profile download SCEP must happen.
const challengeTTL = time.Hour
