package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
	"github.com/orchardmdm/orchard/mdmproto/endpoint"
	"github.com/orchardmdm/orchard/store"
)

// MDMConfig is the device-facing endpoint's part of Config.
type MDMConfig struct {
	MTLSProxy     bool
	SCEPURL       string
	SCEPCAChain   string
	SCEPChallenge string
	// ProfileSigningCert and ProfileSigningKey sign enrollment profiles
	// instead of the embedded CA.
	ProfileSigningCert, ProfileSigningKey string
	// BodyTimeout and LargeBodyBudgetMiB bound device request bodies in
	// time and in concurrent large-body memory (endpoint.Config).
	BodyTimeout        time.Duration
	LargeBodyBudgetMiB int
}

func bindMDM(fs *flag.FlagSet, c *MDMConfig) {
	s := settings{fs}
	s.boolean(&c.MTLSProxy, "mdm-mtls-proxy", "ORCHARD_MDM_MTLS_PROXY", false,
		"devices reach orchard only through a TLS proxy that verifies their certificate and passes it in X-SSL-Client-Cert; profiles then ask for no Mdm-Signature")
	s.str(&c.SCEPURL, "scep-url", "ORCHARD_SCEP_URL", "",
		"an external SCEP server's URL; empty: orchard's embedded SCEP CA issues device identities at /scep")
	s.str(&c.SCEPCAChain, "scep-ca-fullchain", "ORCHARD_SCEP_CA_FULLCHAIN", "",
		"PEM file of the external SCEP CA's chain, which device identities must chain to (required with --scep-url)")
	s.str(&c.SCEPChallenge, "scep-challenge", "ORCHARD_SCEP_CHALLENGE", "", "the external SCEP server's challenge")
	s.str(&c.ProfileSigningCert, "profile-signing-cert", "ORCHARD_PROFILE_SIGNING_CERT", "",
		"PEM certificate (with its chain) signing enrollment profiles, e.g. the server's TLS certificate: devices then show them as verified; reloaded on SIGHUP. Empty: the embedded CA signs them")
	s.str(&c.ProfileSigningKey, "profile-signing-key", "ORCHARD_PROFILE_SIGNING_KEY", "", "PEM private key of --profile-signing-cert")
	s.duration(&c.BodyTimeout, "mdm-body-timeout", "ORCHARD_MDM_BODY_TIMEOUT", endpoint.DefaultBodyReadTimeout,
		"how long a device has to send a whole request body (check-in, report, SCEP, DEP machine info)")
	s.integer(&c.LargeBodyBudgetMiB, "mdm-large-body-budget", "ORCHARD_MDM_LARGE_BODY_BUDGET", endpoint.DefaultLargeBodyBudget>>20,
		"MiB of device request bodies over 256 KiB this process holds at once; more get 503 and retry later")
}

func (c *MDMConfig) validate() error {
	if (c.SCEPURL == "") != (c.SCEPCAChain == "") {
		return fmt.Errorf("--scep-url and --scep-ca-fullchain go together")
	}
	if (c.ProfileSigningCert == "") != (c.ProfileSigningKey == "") {
		return fmt.Errorf("--profile-signing-cert and --profile-signing-key go together")
	}
	if c.BodyTimeout < time.Second || c.LargeBodyBudgetMiB < 1 {
		return fmt.Errorf("--mdm-body-timeout must be at least 1s and --mdm-large-body-budget at least 1 (MiB)")
	}
	return nil
}

// mdmEndpointConfig is the device-facing endpoint's configuration, all but
// the service it calls: the embedded CA (made on first start) or an external
// CA's chain. Every role builds it: workers send enrollment profiles too
// (identity renewal).
func mdmEndpointConfig(ctx context.Context, cfg *Config, s *store.Store, logger *slog.Logger,
	pushTopic func(context.Context) (string, error)) (endpoint.Config, error) {
	ec := endpoint.Config{
		PublicURL: cfg.PublicURL, PushTopic: pushTopic, MTLSProxy: cfg.MDM.MTLSProxy,
		ExternalSCEPURL: cfg.MDM.SCEPURL, ExternalSCEPChallenge: cfg.MDM.SCEPChallenge, Logger: logger,
		BodyReadTimeout: cfg.MDM.BodyTimeout, LargeBodyBudget: int64(cfg.MDM.LargeBodyBudgetMiB) << 20,
	}
	if cfg.MDM.ProfileSigningCert != "" {
		signer, err := newCertReloader("profile signing", cfg.MDM.ProfileSigningCert, cfg.MDM.ProfileSigningKey, logger)
		if err != nil {
			return ec, err
		}
		go signer.reloadOnHangup(ctx)
		ec.ProfileSigningIdentity = signer.cert.Load
	}
	if cfg.MDM.SCEPURL == "" {
		ca, err := endpoint.LoadCA(ctx, s)
		if err != nil {
			return ec, fmt.Errorf("scep ca: %w", err)
		}
		ec.CA = ca
	} else {
		pemData, err := os.ReadFile(cfg.MDM.SCEPCAChain)
		if err != nil {
			return ec, fmt.Errorf("scep ca chain: %w", err)
		}
		if ec.TrustedCAs, err = mdmproto.ParsePEMCertificates(pemData); err != nil {
			return ec, fmt.Errorf("scep ca chain %s: %w", cfg.MDM.SCEPCAChain, err)
		}
	}
	return ec, nil
}
