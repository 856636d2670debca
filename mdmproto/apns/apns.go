// Package apns sends MDM push notifications through Apple's push service
// (APNs): one reused HTTP/2 connection per topic, a bound on pushes in flight.
package apns

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// ProductionURL is Apple's APNs endpoint. MDM pushes always go to production:
// push certificates from Apple's portal are production certificates.
const ProductionURL = "https://api.push.apple.com"

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

// Pool keeps one HTTP/2 transport per topic and reuses it, as Apple asks:
// opening connections for each push looks like an attack to APNs. A fixed set
// of Concurrency workers sends the pushes of every topic; they live as long as
// the pool, so a push costs no new goroutine (and no stack regrown by the
// deep HTTP/2 call path).
type Pool struct {
	cfg     Config
	base    *url.URL
	baseErr error
	// tasks is unbuffered: a push waits for a free worker, so at most
	// Concurrency pushes are in flight.
	tasks   chan *pushTask
	start   sync.Once
	closed  chan struct{}
	closing sync.Once

	mu      sync.Mutex
	clients map[string]*topicClient
}

type topicClient struct {
	fingerprint string
	transport   *http2.Transport
}

// errClosed is the error of pushes asked of a closed pool.
var errClosed = errors.New("apns: pool closed")

// New returns a Pool; it starts its workers and connects on the first push.
func New(cfg Config) *Pool {
	cfg = cfg.withDefaults()
	p := &Pool{cfg: cfg, tasks: make(chan *pushTask), closed: make(chan struct{}), clients: map[string]*topicClient{}}
	if p.base, p.baseErr = url.Parse(cfg.URL); p.baseErr != nil {
		p.baseErr = fmt.Errorf("apns: url: %w", p.baseErr)
	}
	return p
}

// transport returns the topic's transport, replacing it when the certificate
// changed (a renewal keeps the topic and brings a new certificate).
func (p *Pool) transport(topic string, cert tls.Certificate) *http2.Transport {
	sum := sha256.Sum256(cert.Certificate[0])
	fp := hex.EncodeToString(sum[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	if tc := p.clients[topic]; tc != nil {
		if tc.fingerprint == fp {
			return tc.transport
		}
		tc.transport.CloseIdleConnections()
	}
	tc := &topicClient{fingerprint: fp, transport: p.newTransport(cert)}
	p.clients[topic] = tc
	return tc.transport
}

// newTransport speaks HTTP/2 only, through x/net's transport: it dials one
// connection per host and multiplexes every push on it, where net/http's
// transport dials one connection per concurrent first request.
func (p *Pool) newTransport(cert tls.Certificate) *http2.Transport {
	return &http2.Transport{
		TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      p.cfg.RootCAs,
			MinVersion:   tls.VersionTLS12,
		},
		// Pings find dead connections before a push waits on one.
		ReadIdleTimeout: 15 * time.Second,
		PingTimeout:     10 * time.Second,
		// APNs answers with a few bytes of JSON at most: asking for gzip
		// would only add a header to every push.
		DisableCompression: true,
	}
}

// Push sends one push per target with the topic's certificate and returns a
// result per target, in order. It waits for every push, or for ctx.
func (p *Pool) Push(ctx context.Context, topic string, cert tls.Certificate, targets []Target) []Result {
	results := make([]Result, len(targets))
	if len(cert.Certificate) == 0 {
		return answerAll(results, Failed, errors.New("apns: no certificate"))
	}
	if p.baseErr != nil {
		return answerAll(results, Failed, p.baseErr)
	}
	select {
	case <-p.closed:
		return answerAll(results, Retry, errClosed)
	default:
	}
	p.start.Do(p.startWorkers)
	b := &batch{ctx: ctx, transport: p.transport(topic, cert), timeout: p.cfg.Timeout,
		header: pushHeader(topic, time.Now().Add(p.cfg.Expiration))}
	p.dispatch(b, b.tasks(p.base, targets, results), results)
	b.wg.Wait()
	return results
}

// dispatch hands the tasks to the workers, one at a time as they come free;
// when ctx ends or the pool closes first, the rest come back to be retried.
func (p *Pool) dispatch(b *batch, tasks []pushTask, results []Result) {
	b.wg.Add(len(tasks))
	for i := range tasks {
		var stop error
		select {
		case p.tasks <- &tasks[i]:
			continue
		case <-b.ctx.Done():
			stop = b.ctx.Err()
		case <-p.closed:
			stop = errClosed
		}
		answerAll(results[i:], Retry, stop)
		b.wg.Add(i - len(tasks))
		return
	}
}

// answerAll gives every push the same outcome, for err.
func answerAll(results []Result, outcome Outcome, err error) []Result {
	for i := range results {
		results[i] = Result{Outcome: outcome, Err: err}
	}
	return results
}

func (p *Pool) startWorkers() {
	for range p.cfg.Concurrency {
		go p.work()
	}
}

func (p *Pool) work() {
	for {
		select {
		case t := <-p.tasks:
			t.run()
		case <-p.closed:
			return
		}
	}
}

// pushHeader is the header every push of a batch carries, built once: the
// transport only reads it. Keys are lower case as HTTP/2 sends them, so the
// transport need not convert them for each push.
func pushHeader(topic string, expiration time.Time) http.Header {
	return http.Header{
		"apns-push-type":  {"mdm"},
		"apns-topic":      {topic},
		"apns-priority":   {"10"},
		"apns-expiration": {strconv.FormatInt(expiration.Unix(), 10)},
		"content-type":    {"application/json"},
	}
}

// batch is what the pushes of one Push call share.
type batch struct {
	ctx       context.Context
	transport *http2.Transport
	timeout   time.Duration
	header    http.Header
	wg        sync.WaitGroup
}

// tasks prepares a push per target. Paths and payloads of the whole batch
// are built into one string and one buffer, so a push allocates none of its
// own: the payload of an MDM push is always {"mdm": PushMagic}, with no need
// for a JSON encoder per push.
func (b *batch) tasks(base *url.URL, targets []Target, results []Result) []pushTask {
	prefix := base.Path + "/3/device/"
	pathsLen, payloadsLen := 0, 0
	for _, t := range targets {
		pathsLen += len(prefix) + hex.EncodedLen(len(t.Token))
		payloadsLen += len(`{"mdm":""}`) + len(t.PushMagic) // more only when escaped
	}
	paths, payloads := make([]byte, 0, pathsLen), make([]byte, 0, payloadsLen)
	ends := make([][2]int, len(targets))
	for i, t := range targets {
		paths = hex.AppendEncode(append(paths, prefix...), t.Token)
		payloads = appendPayload(payloads, t.PushMagic)
		ends[i] = [2]int{len(paths), len(payloads)}
	}
	allPaths := string(paths)
	tasks := make([]pushTask, len(targets))
	pathAt, payloadAt := 0, 0
	for i, end := range ends {
		tasks[i] = pushTask{batch: b, result: &results[i], payload: payloads[payloadAt:end[1]:end[1]],
			url: url.URL{Scheme: base.Scheme, Host: base.Host, Path: allPaths[pathAt:end[0]]}}
		pathAt, payloadAt = end[0], end[1]
	}
	return tasks
}

// appendPayload appends {"mdm":"PushMagic"}. Push magics are UUIDs in
// practice, written as they are; anything a JSON string cannot hold verbatim
// goes through the JSON encoder.
func appendPayload(buf []byte, magic string) []byte {
	buf = append(buf, `{"mdm":`...)
	if !plainJSON(magic) {
		quoted, _ := json.Marshal(magic) // a string always encodes
		return append(append(buf, quoted...), '}')
	}
	buf = append(append(buf, '"'), magic...)
	return append(buf, `"}`...)
}

// plainJSON reports whether s is printable ASCII that needs no escape in a
// JSON string (encoding/json also escapes <, > and &; leaving them is valid).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// pushTask is one push of a batch, with its request's parts inline.
type pushTask struct {
	*batch
	url     url.URL
	payload []byte
	body    payloadReader
	result  *Result
}

// run sends the push and records APNs' answer.
func (t *pushTask) run() {
	defer t.wg.Done()
	ctx, cancel := context.WithTimeout(t.ctx, t.timeout)
	defer cancel()
	t.body = payloadReader{b: t.payload}
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           &t.url,
		Host:          t.url.Host,
		Header:        t.header,
		Body:          &t.body,
		GetBody:       t.getBody,
		ContentLength: int64(len(t.payload)),
	}).WithContext(ctx)
	res, err := t.transport.RoundTrip(req)
	if err != nil {
		*t.result = Result{Outcome: Retry, Err: err}
		return
	}
	defer res.Body.Close()
	var reason string
	if res.StatusCode != http.StatusOK {
		reason = readReason(res.Body)
	}
	*t.result = Result{Outcome: classify(res.StatusCode, reason), Status: res.StatusCode, Reason: reason}
}

// getBody lets the transport send the push again on a new connection when
// APNs closed the first before taking it (GOAWAY, refused stream).
func (t *pushTask) getBody() (io.ReadCloser, error) {
	return &payloadReader{b: t.payload}, nil
}

// payloadReader returns the payload with io.EOF in one read, which lets
// the transport end the stream with the payload's frame.
type payloadReader struct {
	b   []byte
	off int
}

func (r *payloadReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off += n
	if r.off == len(r.b) {
		return n, io.EOF
	}
	return n, nil
}

func (r *payloadReader) Close() error { return nil }

// readReason reads the reason of a refused push from APNs' JSON answer.
func readReason(body io.Reader) string {
	var answer struct {
		Reason string `json:"reason"`
	}
	raw, _ := io.ReadAll(io.LimitReader(body, 4096))
	_ = json.Unmarshal(raw, &answer) // no reason is still an answer: the status decides
	return answer.Reason
}

// reasonBadDeviceToken is APNs' reason for a token it does not know.
const reasonBadDeviceToken = "BadDeviceToken"

func classify(status int, reason string) Outcome {
	switch {
	case status == http.StatusOK:
		return Sent
	case status == http.StatusGone, reason == reasonBadDeviceToken:
		return Invalid
	case status == http.StatusTooManyRequests, status >= 500:
		return Retry
	}
	return Failed
}

// Close stops the workers and drops idle connections of every topic; pushes
// asked of a closed pool come back to be retried.
func (p *Pool) Close() {
	p.closing.Do(func() { close(p.closed) })
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tc := range p.clients {
		tc.transport.CloseIdleConnections()
	}
}
