// Package apnstest is a local APNs server for tests: HTTP/2 over TLS, it checks
// every MDM push the way Apple would and answers what the test asks it to.
package apnstest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Push is one notification the server accepted as well formed.
type Push struct {
	Token     string
	PushMagic string
	At        time.Time
	// Status is what the server answered.
	Status int
}

// Reply is the answer to a push: a status and, when not 200, APNs' reason.
type Reply struct {
	Status int
	Reason string
}

// Server is a mock APNs endpoint for one topic and one client certificate.
type Server struct {
	srv    *httptest.Server
	topic  string
	client *x509.Certificate

	mu         sync.Mutex
	pushes     []Push
	violations []string
	replies    map[string][]Reply
	delay      time.Duration
	conns      int

	inFlight, maxFlight atomic.Int64
}

// NewServer starts a server expecting pushes for topic from clientCert.
// Close it when done.
func NewServer(topic string, clientCert *x509.Certificate) *Server {
	s := &Server{topic: topic, client: clientCert, replies: map[string][]Reply{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	s.srv.EnableHTTP2 = true
	s.srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	// http.Server's default of 250 streams per connection is what APNs-sized
	// bursts run into; Apple allows about a thousand.
	s.srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 1000}
	s.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	s.srv.StartTLS()
	return s
}

// URL is the base URL to point the APNs client at.
func (s *Server) URL() string { return s.srv.URL }

// RootCAs trusts the server's certificate.
func (s *Server) RootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.srv.Certificate())
	return pool
}

// Certificate is the server's TLS certificate, for clients to trust.
func (s *Server) Certificate() *x509.Certificate { return s.srv.Certificate() }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Expect changes the client certificate the server accepts, as a renewal does.
func (s *Server) Expect(clientCert *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.client = clientCert
}

// ReplyTo queues answers for a token (hex), used in order; once used up the
// server answers 200.
func (s *Server) ReplyTo(token string, replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies[token] = append(s.replies[token], replies...)
}

// SetDelay makes every answer wait, as a distant server would.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Pushes returns the well-formed pushes received so far, in arrival order.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.pushes...)
}

// Count returns how many well-formed pushes arrived.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pushes)
}

// Connections counts the connections clients opened: APNs wants few,
// long-lived ones.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Reset forgets the pushes received.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pushes = nil
}

// Violations lists every malformed request the server refused, so tests can
// fail on any of them.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// MaxInFlight is the most requests the server was answering at once.
func (s *Server) MaxInFlight() int { return int(s.maxFlight.Load()) }

// The server runs in a benchmark's mock process, so its own work per push is
// kept small: no maps, JSON decoders or header canonicalization per request
// on the path of a well-formed push.
func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	raise(&s.maxFlight, s.inFlight.Add(1))
	defer s.inFlight.Add(-1)
	token, magic, problem := s.check(r)
	if problem != "" {
		s.mu.Lock()
		s.violations = append(s.violations, problem)
		s.mu.Unlock()
		answer(w, Reply{Status: http.StatusBadRequest, Reason: problem})
		return
	}
	s.mu.Lock()
	reply := Reply{Status: http.StatusOK}
	if queued := s.replies[token]; len(queued) > 0 {
		reply, s.replies[token] = queued[0], queued[1:]
	}
	s.pushes = append(s.pushes, Push{Token: token, PushMagic: magic, At: time.Now(), Status: reply.Status})
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	answer(w, reply)
}

// raise sets v to n when n is larger.
func raise(v *atomic.Int64, n int64) {
	for m := v.Load(); n > m; m = v.Load() {
		if v.CompareAndSwap(m, n) {
			return
		}
	}
}

// check returns the token and push magic of a push, or what is wrong with it.
func (s *Server) check(r *http.Request) (token, magic, problem string) {
	if r.ProtoMajor != 2 {
		return "", "", "not HTTP/2"
	}
	if r.Method != http.MethodPost {
		return "", "", "MethodNotAllowed"
	}
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if !ok || !isHex(token) {
		return "", "", "BadDeviceToken: path " + r.URL.Path
	}
	s.mu.Lock()
	want := s.client
	s.mu.Unlock()
	if len(r.TLS.PeerCertificates) == 0 || !r.TLS.PeerCertificates[0].Equal(want) {
		return "", "", "BadCertificate"
	}
	for _, h := range [...][2]string{{"Apns-Push-Type", "mdm"}, {"Apns-Topic", s.topic}, {"Apns-Priority", "10"}} {
		if got := r.Header.Get(h[0]); got != h[1] {
			return "", "", fmt.Sprintf("%s is %q, want %q", strings.ToLower(h[0]), got, h[1])
		}
	}
	exp, err := strconv.ParseInt(r.Header.Get("apns-expiration"), 10, 64)
	if err != nil || exp <= time.Now().Unix() {
		return "", "", "BadExpirationDate: " + r.Header.Get("apns-expiration")
	}
	magic, problem = checkBody(r.Body)
	return token, magic, problem
}

// isHex reports whether s is a non-empty even run of hex digits.
func isHex(s string) bool {
	if s == "" || len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

func checkBody(body io.Reader) (magic, problem string) {
	raw, err := io.ReadAll(io.LimitReader(body, 4096))
	if err != nil {
		return "", "unreadable body"
	}
	if magic, ok := plainPayload(raw); ok {
		return magic, ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var payload struct {
		MDM string `json:"mdm"`
	}
	if err := dec.Decode(&payload); err != nil || payload.MDM == "" {
		return "", "body is not {\"mdm\": PushMagic}: " + string(raw)
	}
	return payload.MDM, ""
}

// plainPayload reads {"mdm":"PushMagic"} written exactly so, with nothing to
// unescape: what every push carries, read without a JSON decoder. Any other
// shape takes the decoder, which judges it.
func plainPayload(raw []byte) (string, bool) {
	inner, ok := bytes.CutPrefix(raw, []byte(`{"mdm":"`))
	if !ok {
		return "", false
	}
	if inner, ok = bytes.CutSuffix(inner, []byte(`"}`)); !ok || len(inner) == 0 {
		return "", false
	}
	for _, c := range inner {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(inner), utf8.Valid(inner)
}

// apnsID is the one apns-id the mock answers with; the client never reads it.
var apnsID = []string{"00000000-0000-0000-0000-000000000000"}

func answer(w http.ResponseWriter, reply Reply) {
	w.Header()["Apns-Id"] = apnsID
	if reply.Status == http.StatusOK {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(reply.Status)
	body := map[string]any{"reason": reply.Reason}
	if reply.Status == http.StatusGone {
		body["timestamp"] = time.Now().UnixMilli()
	}
	_ = json.NewEncoder(w).Encode(body)
}
