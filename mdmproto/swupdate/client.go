package swupdate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBaseURL is Apple's Software Lookup Service.
const DefaultBaseURL = "https://gdmf.apple.com"

// AppleHost is the host whose TLS certificate must chain to Apple's root.
const AppleHost = "gdmf.apple.com"

// DefaultMaxBody bounds what is read of the catalog: Apple's is well under
// 1 MB today.
const DefaultMaxBody = 16 << 20

// Client fetches the catalog. It is safe for concurrent use.
type Client struct {
	url     string
	http    *http.Client
	maxBody int64
}

// Config builds a Client.
type Config struct {
	// BaseURL defaults to DefaultBaseURL; the catalog is at BaseURL/v2/pmv.
	BaseURL string
	// HTTPClient defaults to HTTPClientFor(BaseURL, nil) with a 60 s timeout.
	HTTPClient *http.Client
	// MaxBody defaults to DefaultMaxBody.
	MaxBody int64
}

// New builds a client.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if err := CheckBaseURL(cfg.BaseURL); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		hc, err := HTTPClientFor(cfg.BaseURL, nil)
		if err != nil {
			return nil, err
		}
		cfg.HTTPClient = hc
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	return &Client{url: strings.TrimSuffix(cfg.BaseURL, "/") + "/v2/pmv", http: cfg.HTTPClient, maxBody: cfg.MaxBody}, nil
}

// CheckBaseURL accepts https URLs, and http only to the local machine (the
// simulator): the catalog decides what devices are told to install.
func CheckBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("software update URL %q: want scheme://host[:port][/path]", raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("software update URL %q: https required (http only to localhost)", raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HTTPClientFor is the client for a base URL: to Apple's host, TLS must chain
// to appleRoots (Apple's root, which orchard ships), not to whatever the
// system trusts; any other host uses the system roots (SSL_CERT_FILE).
// appleRoots may be nil only for other hosts.
func HTTPClientFor(baseURL string, appleRoots *x509.CertPool) (*http.Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if strings.EqualFold(u.Hostname(), AppleHost) {
		if appleRoots == nil {
			return nil, errors.New("software update client: Apple's root certificate is needed for " + AppleHost)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: appleRoots, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

// Fetch reads the catalog. Any failure (network, HTTP status, oversize,
// truncated or malformed body) is an error and no catalog.
func (c *Client) Fetch(ctx context.Context) (*Catalog, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("software update catalog: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("software update catalog: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("software update catalog: read: %w", err)
	}
	if int64(len(body)) > c.maxBody {
		return nil, fmt.Errorf("software update catalog: larger than %d bytes", c.maxBody)
	}
	return Parse(body)
}
