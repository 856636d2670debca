package main

import (
	"fmt"
	"net/url"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
)

// AppsBooksConfig is how orchard reaches Apple's Apps and Books service.
type AppsBooksConfig struct {
	URL          string
	SyncInterval time.Duration
}

func bindAppsBooks(s settings, c *AppsBooksConfig) {
	s.str(&c.URL, "appsbooks-url", "ORCHARD_APPSBOOKS_URL", appsbooks.DefaultBaseURL,
		"Apple's Apps and Books service (point it at orchard vppsim to try it without Apple)")
	s.duration(&c.SyncInterval, "location-sync-interval", "ORCHARD_LOCATION_SYNC_INTERVAL", 6*time.Hour,
		"how often every Apps and Books location syncs its assets; 0 turns periodic syncs off")
}

func (c *AppsBooksConfig) validate() error {
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--appsbooks-url must be an http(s) URL, not %q", c.URL)
	}
	if c.SyncInterval != 0 && c.SyncInterval < time.Minute {
		return fmt.Errorf("--location-sync-interval must be 0 or at least 1m, not %s", c.SyncInterval)
	}
	return nil
}
