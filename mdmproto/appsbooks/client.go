package appsbooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/internal/httpwait"
)

// DefaultBaseURL is Apple's production service.
const DefaultBaseURL = "https://vpp.itunes.apple.com/mdm/v2"

// maxBody bounds what is read of an answer: a page of assignments is a few
// hundred KB.
const maxBody = 8 << 20

// Config builds a Client.
type Config struct {
	// BaseURL defaults to DefaultBaseURL.
	BaseURL string
	// HTTPClient defaults to one with a 60 s timeout.
	HTTPClient *http.Client
	// SToken is the location's content token file text.
	SToken string
}

// Client calls the service for one location. It is safe for concurrent use.
type Client struct {
	baseURL string
	http    *http.Client
	stoken  string
	// MaxRetries bounds retries of 429 and 5xx answers.
	MaxRetries int
	// Backoff is the wait before retry n when Apple sends no Retry-After.
	Backoff func(n int) time.Duration
	// MaxWait caps one wait; a longer Retry-After is returned as an *Error.
	MaxWait time.Duration
}

// New returns a client.
func New(cfg Config) *Client {
	c := &Client{baseURL: strings.TrimRight(cfg.BaseURL, "/"), http: cfg.HTTPClient, stoken: cfg.SToken,
		MaxRetries: 3, MaxWait: 30 * time.Second,
		Backoff: func(n int) time.Duration { return time.Duration(1<<min(n, 5)) * time.Second }}
	if c.baseURL == "" {
		c.baseURL = DefaultBaseURL
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 60 * time.Second}
	}
	return c
}

// ClientConfig is GET client/config.
func (c *Client) ClientConfig(ctx context.Context) (*ClientConfig, error) {
	var out ClientConfig
	return &out, c.call(ctx, "client/config", http.MethodGet, "/client/config", nil, &out)
}

// SetClientConfig is POST client/config.
func (c *Client) SetClientConfig(ctx context.Context, req ClientConfigRequest) (*ClientConfig, error) {
	var out ClientConfig
	return &out, c.call(ctx, "client/config", http.MethodPost, "/client/config", req, &out)
}

// ServiceConfig is GET service/config.
func (c *Client) ServiceConfig(ctx context.Context) (*ServiceConfig, error) {
	var out ServiceConfig
	return &out, c.call(ctx, "service/config", http.MethodGet, "/service/config", nil, &out)
}

// Assets is one page of GET assets.
func (c *Client) Assets(ctx context.Context, pageIndex int) (*AssetsPage, error) {
	var out AssetsPage
	return &out, c.call(ctx, "assets", http.MethodGet, "/assets?pageIndex="+strconv.Itoa(pageIndex), nil, &out)
}

// Assignments is one page of GET assignments.
func (c *Client) Assignments(ctx context.Context, pageIndex int) (*AssignmentsPage, error) {
	var out AssignmentsPage
	return &out, c.call(ctx, "assignments", http.MethodGet, "/assignments?pageIndex="+strconv.Itoa(pageIndex), nil, &out)
}

// Associate is POST assets/associate; Apple answers with an event to poll.
func (c *Client) Associate(ctx context.Context, req ManageRequest) (*EventResponse, error) {
	var out EventResponse
	return &out, c.call(ctx, "assets/associate", http.MethodPost, "/assets/associate", req, &out)
}

// Disassociate is POST assets/disassociate.
func (c *Client) Disassociate(ctx context.Context, req ManageRequest) (*EventResponse, error) {
	var out EventResponse
	return &out, c.call(ctx, "assets/disassociate", http.MethodPost, "/assets/disassociate", req, &out)
}

// Status is GET status of an event.
func (c *Client) Status(ctx context.Context, eventID string) (*EventStatus, error) {
	var out EventStatus
	return &out, c.call(ctx, "status", http.MethodGet, "/status?eventId="+url.QueryEscape(eventID), nil, &out)
}

func (c *Client) call(ctx context.Context, name, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("apps and books %s: %w", name, err)
		}
	}
	for attempt := 1; ; attempt++ {
		res, data, err := c.send(ctx, method, path, body)
		if err != nil {
			return fmt.Errorf("apps and books %s: %w", name, err)
		}
		if res.StatusCode < 300 {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("apps and books %s: malformed answer: %w", name, err)
			}
			return nil
		}
		apiErr := parseError(name, res.StatusCode, data)
		apiErr.RetryAfter, _ = httpwait.RetryAfter(res.Header.Get("Retry-After"))
		if !retryable(res.StatusCode) || attempt > c.MaxRetries || apiErr.RetryAfter > c.MaxWait {
			return apiErr
		}
		wait := apiErr.RetryAfter
		if wait <= 0 {
			wait = min(c.Backoff(attempt), c.MaxWait)
		}
		if err := httpwait.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (c *Client) send(ctx context.Context, method, path string, body []byte) (*http.Response, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, r)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.stoken)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	if err == nil && len(data) > maxBody {
		err = errors.New("answer larger than 8 MB")
	}
	return res, data, err
}

func retryable(status int) bool { return status == http.StatusTooManyRequests || status >= 500 }
