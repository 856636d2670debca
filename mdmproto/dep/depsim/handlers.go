package depsim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/dep"
)

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /session", s.session)
	s.mux.HandleFunc("GET /account", s.authed(s.account))
	s.mux.HandleFunc("POST /server/devices", s.authed(s.fetchDevices))
	s.mux.HandleFunc("POST /devices/sync", s.authed(s.syncDevices))
	s.mux.HandleFunc("POST /devices", s.authed(s.deviceDetails))
	s.mux.HandleFunc("POST /profile", s.authed(s.defineProfile))
	s.mux.HandleFunc("GET /profile", s.authed(s.getProfile))
	s.mux.HandleFunc("PUT /profile/devices", s.authed(s.assignProfile))
	s.mux.HandleFunc("POST /profile/devices", s.authed(s.assignProfile))
	s.mux.HandleFunc("DELETE /profile/devices", s.authed(s.removeProfile))
}

// injected answers a queued failure or the terms error; callers hold mu.
func (s *Server) injected(w http.ResponseWriter) bool {
	if s.termsUnsigned {
		fail(w, http.StatusForbidden, dep.CodeTermsNotSigned)
		return true
	}
	s.calls++
	if s.cfg.FailEvery > 0 && s.calls%s.cfg.FailEvery == 0 {
		w.Header().Set("Retry-After", "1")
		fail(w, s.cfg.FailStatus, http.StatusText(s.cfg.FailStatus))
		return true
	}
	if len(s.failures) == 0 {
		return false
	}
	f := s.failures[0]
	s.failures = s.failures[1:]
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	if f.code == "" {
		f.code = http.StatusText(f.status)
	}
	fail(w, f.status, f.code)
	return true
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[r.URL.Path]++
	if s.injected(w) {
		return
	}
	if err := s.verifyOAuth(r); err != nil {
		w.Header().Set("WWW-Authenticate", `OAuth realm="ADM"`)
		http.Error(w, "UNAUTHORIZED: "+err.Error(), http.StatusUnauthorized)
		return
	}
	writeJSON(w, map[string]string{"auth_session_token": s.newSession()})
}

// newSession issues a session token; callers hold mu.
func (s *Server) newSession() string {
	token := randomHex(20)
	s.sessions[token] = s.cfg.Now().Add(s.cfg.SessionTTL)
	return token
}

// authed checks the session and protocol headers and, like Apple, hands out a
// fresh session token with each answer. Handlers run under mu.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests[r.URL.Path]++
		if s.injected(w) {
			return
		}
		exp, ok := s.sessions[r.Header.Get("X-ADM-Auth-Session")]
		if !ok || s.cfg.Now().After(exp) {
			fail(w, http.StatusUnauthorized, dep.CodeUnauthorized)
			return
		}
		if r.Header.Get("X-Server-Protocol-Version") == "" {
			fail(w, http.StatusBadRequest, "PROTOCOL_VERSION_REQUIRED")
			return
		}
		w.Header().Set("X-ADM-Auth-Session", s.newSession())
		h(w, r)
	}
}

func (s *Server) account(w http.ResponseWriter, r *http.Request) {
	limit := &dep.Limit{Default: s.cfg.DefaultLimit, Maximum: s.cfg.MaxLimit}
	writeJSON(w, dep.Account{
		ServerName: "depsim", ServerUUID: s.serverUUID(), AdminID: "admin@example.com",
		FacilitatorID: "facilitator@example.com", OrgName: "Simulated Organization", OrgEmail: "dep@example.com",
		OrgPhone: "+1 555 0100", OrgAddress: "1 Infinite Loop, Cupertino, CA 95014, US",
		OrgType: "org", OrgVersion: "v2", OrgID: "1234567", OrgIDHash: "9f86d081884c7d659a2feaa0c55ad015",
		URLs: []dep.AccountURL{
			{URI: "/server/devices", HTTPMethod: []string{"POST"}, Limit: limit},
			{URI: "/devices/sync", HTTPMethod: []string{"POST"}, Limit: limit},
		},
	})
}

// serverUUID is stable for a set of credentials, like a real server's.
func (s *Server) serverUUID() string {
	sum := sha256.Sum256([]byte(s.creds.ConsumerKey))
	h := strings.ToUpper(hex.EncodeToString(sum[:16]))
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// cursor is what the simulator's opaque cursors hold.
type cursor struct {
	Phase  string    `json:"p"` // fetch or sync
	Offset int       `json:"o"` // fetch: next index in devices
	Seq    int       `json:"s"` // changes seen
	Epoch  int       `json:"e"`
	Issued time.Time `json:"t"`
}

func (s *Server) encodeCursor(c cursor) string {
	c.Epoch, c.Issued = s.cursorEpoch, s.cfg.Now()
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a request cursor, answering the error itself when it is bad.
func (s *Server) decodeCursor(w http.ResponseWriter, text string) (cursor, bool) {
	var c cursor
	raw, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil || json.Unmarshal(raw, &c) != nil || (c.Phase != "fetch" && c.Phase != "sync") {
		fail(w, http.StatusBadRequest, dep.CodeInvalidCursor)
		return c, false
	}
	if c.Epoch < s.cursorEpoch || s.cfg.Now().After(c.Issued.Add(s.cfg.CursorTTL)) {
		fail(w, http.StatusBadRequest, dep.CodeExpiredCursor)
		return c, false
	}
	return c, true
}

func (s *Server) pageRequest(w http.ResponseWriter, r *http.Request) (dep.DeviceRequest, int, bool) {
	var req dep.DeviceRequest
	if err := readJSON(r, &req); err != nil {
		fail(w, http.StatusBadRequest, dep.CodeMalformedRequest)
		return req, 0, false
	}
	limit := req.Limit
	if limit <= 0 {
		limit = s.cfg.DefaultLimit
	}
	return req, min(limit, s.cfg.MaxLimit), true
}

func (s *Server) fetchDevices(w http.ResponseWriter, r *http.Request) {
	req, limit, ok := s.pageRequest(w, r)
	if !ok {
		return
	}
	c := cursor{Phase: "fetch", Seq: len(s.changes)}
	if req.Cursor != "" {
		if c, ok = s.decodeCursor(w, req.Cursor); !ok {
			return
		}
		if c.Phase != "fetch" || c.Offset >= len(s.devices) {
			fail(w, http.StatusBadRequest, dep.CodeExhaustedCursor)
			return
		}
	}
	page := dep.DevicePage{Devices: []dep.Device{}}
	for c.Offset < len(s.devices) && len(page.Devices) < limit {
		if d := s.devices[c.Offset]; !d.deleted {
			page.Devices = append(page.Devices, d.Device)
		}
		c.Offset++
	}
	page.MoreToFollow = c.Offset < len(s.devices)
	now := s.cfg.Now().UTC()
	page.FetchedUntil = &now
	page.Cursor = s.encodeCursor(c)
	writeJSON(w, page)
}

func (s *Server) syncDevices(w http.ResponseWriter, r *http.Request) {
	req, limit, ok := s.pageRequest(w, r)
	if !ok {
		return
	}
	if req.Cursor == "" {
		fail(w, http.StatusBadRequest, dep.CodeCursorRequired)
		return
	}
	c, ok := s.decodeCursor(w, req.Cursor)
	if !ok {
		return
	}
	page := dep.DevicePage{Devices: []dep.Device{}}
	for c.Seq < len(s.changes) && len(page.Devices) < limit {
		ch := s.changes[c.Seq]
		d := s.bySerial[ch.serial].Device
		at := ch.at
		d.OpType, d.OpDate = ch.op, &at
		page.Devices = append(page.Devices, d)
		c.Seq++
	}
	c.Phase = "sync"
	page.MoreToFollow = c.Seq < len(s.changes)
	now := s.cfg.Now().UTC()
	page.FetchedUntil = &now
	page.Cursor = s.encodeCursor(c)
	writeJSON(w, page)
}

func (s *Server) deviceDetails(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Devices []string `json:"devices"`
	}
	if err := readJSON(r, &req); err != nil || len(req.Devices) == 0 || len(req.Devices) > dep.MaxPage {
		fail(w, http.StatusBadRequest, dep.CodeMalformedRequest)
		return
	}
	out := map[string]dep.Device{}
	for _, serial := range req.Devices {
		d, ok := s.bySerial[serial]
		if !ok || d.deleted {
			out[serial] = dep.Device{ResponseStatus: dep.ResultNotAccessible}
			continue
		}
		dev := d.Device
		dev.ResponseStatus = dep.ResultSuccess
		out[serial] = dev
	}
	writeJSON(w, map[string]any{"devices": out})
}

func fail(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	fmt.Fprint(w, code)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF8")
	_ = json.NewEncoder(w).Encode(v)
}

func readJSON(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
