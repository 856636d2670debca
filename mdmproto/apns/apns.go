// Package apns sends MDM push notifications through Apple's push service
// (APNs): one reused HTTP/2 client per topic, a bound on pushes in flight.
package apns

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/sideshow/apns2"
	"golang.org/x/net/http2"
)

// ProductionURL is Apple's APNs endpoint. MDM pushes always go to production:
// push certificates from Apple's portal are production certificates.
const ProductionURL = apns2.HostProduction

// Config shapes a Pool. The pool builds its HTTP clients itself, one per
// topic, because each carries that topic's certificate for mutual TLS; tests
// point URL and RootCAs at a local mock.
type Config struct {
	// URL is the APNs base URL; empty means ProductionURL.
	URL string
	// Concurrency bounds the pushes in flight at once over all topics.
	Concurrency int
	// Expiration is how long APNs keeps a push for a device that is offline.
	Expiration time.Duration
	// Timeout bounds one push.
	Timeout time.Duration
	// RootCAs verifies the APNs server; nil uses the system's roots.
	RootCAs *x509.CertPool
}

// Defaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = ProductionURL
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 100
	}
	if c.Expiration <= 0 {
		c.Expiration = 24 * time.Hour
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	return c
}

// Target is a device to wake: its push token and push magic from TokenUpdate.
type Target struct {
	Token     []byte
	PushMagic string
}

// Outcome sorts APNs answers by what the caller must do next.
type Outcome int

const (
	// Sent: APNs accepted the push.
	Sent Outcome = iota
	// Retry: APNs or the network failed for now (429, 5xx, connection errors).
	Retry
	// Invalid: the token is gone (410 Unregistered, BadDeviceToken); stop
	// pushing it until the device sends a new one.
	Invalid
	// Failed: refused for a reason retrying does not fix (certificate, topic).
	Failed
)

func (o Outcome) String() string {
	return [...]string{"sent", "retry", "invalid", "failed"}[o]
}

// Result is what happened to one push.
type Result struct {
	Outcome Outcome
	Status  int
	Reason  string
	Err     error
}

// Pool keeps one APNs client per topic and reuses it, as Apple asks: opening
// connections for each push looks like an attack to APNs.
type Pool struct {
	cfg Config
	// tasks feeds cfg.Concurrency long-lived workers, the bound on pushes
	// in flight. Long-lived: a push runs deep in the HTTP/2 client, and a
	// goroutine per push grew its stack from scratch each time (a seventh of
	// the pushing process's CPU).
	tasks       chan pushTask
	startWorker sync.Once
	// closed ends the pool: pushes asked of it afterwards go back for a retry.
	closed    chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	clients map[string]*topicClient
}

type topicClient struct {
	fingerprint string
	client      *apns2.Client
}

// New returns a Pool; it connects on the first push.
func New(cfg Config) *Pool {
	cfg = cfg.withDefaults()
	return &Pool{cfg: cfg, tasks: make(chan pushTask), closed: make(chan struct{}), clients: map[string]*topicClient{}}
}

// pushTask is one push handed to a worker, which stores its result and
// marks it done.
type pushTask struct {
	ctx        context.Context
	client     *apns2.Client
	topic      string
	expiration time.Time
	target     Target
	result     *Result
	done       *sync.WaitGroup
}

// work sends the pushes handed to it until the pool closes. A push handed
// over as the pool closed goes back unsent.
func (p *Pool) work() {
	for {
		select {
		case <-p.closed:
			return
		case t := <-p.tasks:
			select {
			case <-p.closed:
				*t.result = Result{Outcome: Retry, Err: errClosed}
			default:
				*t.result = push(t.ctx, t.client, t.topic, t.expiration, t.target)
			}
			t.done.Done()
		}
	}
}

// client returns the topic's client, replacing it when the certificate
// changed (a renewal keeps the topic and brings a new certificate).
func (p *Pool) client(topic string, cert tls.Certificate) *apns2.Client {
	sum := sha256.Sum256(cert.Certificate[0])
	fp := hex.EncodeToString(sum[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	if tc := p.clients[topic]; tc != nil {
		if tc.fingerprint == fp {
			return tc.client
		}
		tc.client.CloseIdleConnections()
	}
	tc := &topicClient{fingerprint: fp, client: &apns2.Client{
		Host:        p.cfg.URL,
		Certificate: cert,
		HTTPClient:  p.httpClient(cert),
	}}
	p.clients[topic] = tc
	return tc.client
}

// httpClient speaks HTTP/2 only, through x/net's transport: it dials one
// connection per host and multiplexes every push on it, where net/http's
// transport dials one connection per concurrent first request.
func (p *Pool) httpClient(cert tls.Certificate) *http.Client {
	return &http.Client{
		Timeout: p.cfg.Timeout,
		Transport: &http2.Transport{
			TLSClientConfig: &tls.Config{
				Certificates: []tls.Certificate{cert},
				RootCAs:      p.cfg.RootCAs,
				MinVersion:   tls.VersionTLS12,
			},
			// Pings find dead connections before a push waits on one.
			ReadIdleTimeout: 15 * time.Second,
			PingTimeout:     10 * time.Second,
			// No HPACK dynamic table: every push's :path is a new device
			// token, so indexing it only evicted the entry before and cost a
			// tenth of the client's CPU; the constant headers sent literally
			// add about 150 bytes to a push.
			MaxEncoderHeaderTableSize: 1,
		},
	}
}

// Push sends one push per target with the topic's certificate and returns a
// result per target, in order. It waits for every push, or for ctx.
func (p *Pool) Push(ctx context.Context, topic string, cert tls.Certificate, targets []Target) []Result {
	results := make([]Result, len(targets))
	if len(cert.Certificate) == 0 {
		for i := range results {
			results[i] = Result{Outcome: Failed, Err: errors.New("apns: no certificate")}
		}
		return results
	}
	p.startWorker.Do(func() {
		for range p.cfg.Concurrency {
			go p.work()
		}
	})
	client := p.client(topic, cert)
	expiration := time.Now().Add(p.cfg.Expiration)
	var done sync.WaitGroup
	for i, t := range targets {
		done.Add(1)
		task := pushTask{ctx: ctx, client: client, topic: topic, expiration: expiration, target: t, result: &results[i], done: &done}
		if stopped := p.hand(ctx, task); stopped != nil {
			done.Done()
			for j := i; j < len(targets); j++ {
				results[j] = Result{Outcome: Retry, Err: stopped}
			}
			break
		}
	}
	done.Wait()
	return results
}

// hand gives a push to a free worker, or says why the push cannot go: the
// pool closed (checked first, so a closed pool never sends) or ctx ended.
func (p *Pool) hand(ctx context.Context, task pushTask) error {
	select {
	case <-p.closed:
		return errClosed
	default:
	}
	select {
	case <-p.closed:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	case p.tasks <- task:
		return nil
	}
}

func push(ctx context.Context, client *apns2.Client, topic string, expiration time.Time, t Target) Result {
	n := &apns2.Notification{
		DeviceToken: hex.EncodeToString(t.Token),
		Topic:       topic,
		PushType:    apns2.PushTypeMDM,
		Priority:    apns2.PriorityHigh,
		Expiration:  expiration,
		Payload:     mdmPayload{PushMagic: t.PushMagic},
	}
	res, err := client.PushWithContext(ctx, n)
	if err != nil {
		return Result{Outcome: Retry, Err: err}
	}
	return Result{Outcome: classify(res.StatusCode, res.Reason), Status: res.StatusCode, Reason: res.Reason}
}

// mdmPayload is the whole body of an MDM push.
type mdmPayload struct {
	PushMagic string `json:"mdm"`
}

func classify(status int, reason string) Outcome {
	switch {
	case status == http.StatusOK:
		return Sent
	case status == http.StatusGone, reason == apns2.ReasonBadDeviceToken:
		return Invalid
	case status == http.StatusTooManyRequests, status >= 500:
		return Retry
	}
	return Failed
}

// errClosed is the error of pushes asked of a closed pool.
var errClosed = errors.New("apns: pool closed")

// Close drops idle connections of every client; pushes asked afterwards
// are handed back for a retry, unsent.
func (p *Pool) Close() {
	p.closeOnce.Do(func() { close(p.closed) })
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tc := range p.clients {
		tc.client.CloseIdleConnections()
	}
}
