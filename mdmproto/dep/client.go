package dep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dghubble/oauth1"
	fastjson "github.com/segmentio/encoding/json"

	"github.com/orchardmdm/orchard/mdmproto/internal/httpwait"
)

// DefaultBaseURL is Apple's production DEP service.
const DefaultBaseURL = "https://mdmenrollment.apple.com"

// maxBody bounds what is read of an answer: a page of 1,000 devices is ~500 KB.
const maxBody = 32 << 20

// Credentials are the OAuth1 keys of a server token.
type Credentials struct {
	ConsumerKey    string
	ConsumerSecret string
	AccessToken    string
	AccessSecret   string
}

// SessionStore keeps the session token so every process using one server
// token shares one session. Get returns "" when there is none.
type SessionStore interface {
	GetSession(ctx context.Context) (string, error)
	PutSession(ctx context.Context, token string) error
}

// MemorySessions is a SessionStore for one process.
type MemorySessions struct {
	mu    sync.Mutex
	token string
}

// GetSession returns the kept session token.
func (m *MemorySessions) GetSession(context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.token, nil
}

// PutSession keeps a session token.
func (m *MemorySessions) PutSession(_ context.Context, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.token = token
	return nil
}

// Client calls the DEP service for one server token. It is safe for
// concurrent use.
type Client struct {
	baseURL  string
	http     *http.Client
	creds    Credentials
	sessions SessionStore
	// MaxRetries bounds retries of 429 and 5xx answers.
	MaxRetries int
	// Backoff is the wait before retry n (1-based) when Apple sends no Retry-After.
	Backoff func(n int) time.Duration
	// MaxWait caps any single wait, Retry-After included.
	MaxWait time.Duration
}

// Config builds a Client.
type Config struct {
	// BaseURL defaults to DefaultBaseURL.
	BaseURL string
	// HTTPClient defaults to one with a 60 s timeout.
	HTTPClient  *http.Client
	Credentials Credentials
	// Sessions defaults to a MemorySessions.
	Sessions SessionStore
}

// New returns a client.
func New(cfg Config) *Client {
	c := &Client{
		baseURL:    strings.TrimRight(cfg.BaseURL, "/"),
		http:       cfg.HTTPClient,
		creds:      cfg.Credentials,
		sessions:   cfg.Sessions,
		MaxRetries: 5,
		Backoff:    func(n int) time.Duration { return time.Duration(1<<min(n, 6)) * time.Second },
		MaxWait:    2 * time.Minute,
	}
	if c.baseURL == "" {
		c.baseURL = DefaultBaseURL
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 60 * time.Second}
	}
	if c.sessions == nil {
		c.sessions = &MemorySessions{}
	}
	return c
}

// NewSession gets a session token with an OAuth1-signed GET /session and keeps it.
func (c *Client) NewSession(ctx context.Context) (string, error) {
	cfg := oauth1.NewConfig(c.creds.ConsumerKey, c.creds.ConsumerSecret)
	cfg.Realm = "ADM"
	signed := cfg.Client(context.WithValue(ctx, oauth1.HTTPClient, c.http),
		oauth1.NewToken(c.creds.AccessToken, c.creds.AccessSecret))
	signed.Timeout = c.http.Timeout
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+"/session", nil)
		if err != nil {
			return "", fmt.Errorf("dep session: %w", err)
		}
		res, err := signed.Do(req)
		if err != nil {
			return "", fmt.Errorf("dep session: %w", err)
		}
		body, err := readBody(res)
		if err != nil {
			return "", fmt.Errorf("dep session: %w", err)
		}
		if retry, wait := c.shouldRetry(res, attempt); retry {
			if err := httpwait.Sleep(ctx, wait); err != nil {
				return "", err
			}
			continue
		}
		if res.StatusCode != http.StatusOK {
			return "", parseError("session", res.StatusCode, body)
		}
		var out struct {
			Token string `json:"auth_session_token"`
		}
		if err := json.Unmarshal(body, &out); err != nil || out.Token == "" {
			return "", fmt.Errorf("dep session: answer without auth_session_token")
		}
		if err := c.sessions.PutSession(ctx, out.Token); err != nil {
			return "", fmt.Errorf("dep session: keep: %w", err)
		}
		return out.Token, nil
	}
}

// call sends one request with the shared session. A 401, or 403 FORBIDDEN,
// gets one new session and one retry; 429 and 5xx are retried with backoff.
func (c *Client) call(ctx context.Context, name, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("dep %s: %w", name, err)
		}
	}
	session, err := c.sessions.GetSession(ctx)
	if err != nil {
		return fmt.Errorf("dep %s: session: %w", name, err)
	}
	if session == "" {
		if session, err = c.NewSession(ctx); err != nil {
			return err
		}
	}
	renewed := false
	for attempt := 1; ; attempt++ {
		res, data, err := c.send(ctx, method, path, session, body)
		if err != nil {
			return fmt.Errorf("dep %s: %w", name, err)
		}
		if fresh := res.Header.Get("X-ADM-Auth-Session"); fresh != "" && fresh != session {
			session = fresh
			if err := c.sessions.PutSession(ctx, fresh); err != nil {
				return fmt.Errorf("dep %s: keep session: %w", name, err)
			}
		}
		if retry, wait := c.shouldRetry(res, attempt); retry {
			if err := httpwait.Sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		if res.StatusCode >= 300 {
			apiErr := parseError(name, res.StatusCode, data)
			if apiErr.sessionExpired() && !renewed {
				renewed = true
				if session, err = c.NewSession(ctx); err != nil {
					return err
				}
				continue
			}
			return apiErr
		}
		if err := decodeAnswer(data, out); err != nil {
			return fmt.Errorf("dep %s: malformed answer: %w", name, err)
		}
		return nil
	}
}

// decodeAnswer reads a JSON answer into out with segmentio/encoding's
// decoder, encoding/json's semantics at a fraction of its cost: a full fetch
// is a hundred pages of 1,000 devices, and encoding/json spent most of the
// client's time on them.
func decodeAnswer(data []byte, out any) error {
	if out == nil {
		return nil
	}
	return fastjson.Unmarshal(data, out)
}

func (c *Client) send(ctx context.Context, method, path, session string, body []byte) (*http.Response, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, r)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("X-ADM-Auth-Session", session)
	req.Header.Set("X-Server-Protocol-Version", ProtocolVersion)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json;charset=UTF8")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	data, err := readBody(res)
	return res, data, err
}

func readBody(res *http.Response) ([]byte, error) {
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxBody {
		return nil, errors.New("answer larger than 32 MB")
	}
	return data, nil
}

// shouldRetry says whether a 429 or 5xx answer is retried, and after how long.
func (c *Client) shouldRetry(res *http.Response, attempt int) (bool, time.Duration) {
	if res.StatusCode != http.StatusTooManyRequests && res.StatusCode < 500 {
		return false, 0
	}
	if attempt > c.MaxRetries {
		return false, 0
	}
	wait := c.Backoff(attempt)
	if w, ok := httpwait.RetryAfter(res.Header.Get("Retry-After")); ok {
		wait = w
	}
	return true, min(max(wait, 0), c.MaxWait)
}
