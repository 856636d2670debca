// Package apnstest is a local APNs server for tests: HTTP/2 over TLS, it checks
// every MDM push the way Apple would and answers what the test asks it to.
package apnstest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
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
	inFlight   int
	maxFlight  int
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
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxFlight
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.inFlight++
	s.maxFlight = max(s.maxFlight, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
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

// check returns the token and push magic of a push, or what is wrong with it.
func (s *Server) check(r *http.Request) (token, magic, problem string) {
	if r.ProtoMajor != 2 {
		return "", "", "not HTTP/2"
	}
	if r.Method != http.MethodPost {
		return "", "", "MethodNotAllowed"
	}
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if _, err := hex.DecodeString(token); !ok || err != nil || token == "" {
		return "", "", "BadDeviceToken: path " + r.URL.Path
	}
	s.mu.Lock()
	want := s.client
	s.mu.Unlock()
	if len(r.TLS.PeerCertificates) == 0 || !r.TLS.PeerCertificates[0].Equal(want) {
		return "", "", "BadCertificate"
	}
	for header, want := range map[string]string{"apns-push-type": "mdm", "apns-topic": s.topic, "apns-priority": "10"} {
		if got := r.Header.Get(header); got != want {
			return "", "", fmt.Sprintf("%s is %q, want %q", header, got, want)
		}
	}
	exp, err := strconv.ParseInt(r.Header.Get("apns-expiration"), 10, 64)
	if err != nil || exp <= time.Now().Unix() {
		return "", "", "BadExpirationDate: " + r.Header.Get("apns-expiration")
	}
	magic, problem = checkBody(r.Body)
	return token, magic, problem
}

func checkBody(body io.Reader) (magic, problem string) {
	raw, err := io.ReadAll(io.LimitReader(body, 4096))
	if err != nil {
		return "", "unreadable body"
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

func answer(w http.ResponseWriter, reply Reply) {
	w.Header().Set("apns-id", "00000000-0000-0000-0000-000000000000")
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
