// Package swupdatesim is a local stand-in for Apple's Software Lookup Service
// (/v2/pmv), with the catalog's real shape, so tests and demos never reach
// Apple. Its catalog can be swapped, and it can fail or cut its answer short.
package swupdatesim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/orchardmdm/orchard/mdmproto/swupdate"
)

// Server serves a catalog at /v2/pmv.
type Server struct {
	mu       sync.Mutex
	catalog  swupdate.Catalog
	status   int
	truncate bool
	requests int
}

// New serves catalog.
func New(catalog swupdate.Catalog) *Server { return &Server{catalog: catalog} }

// SetCatalog replaces what is served.
func (s *Server) SetCatalog(c swupdate.Catalog) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.catalog = c
}

// Fail makes every answer this HTTP status (0 serves the catalog again).
func (s *Server) Fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// Truncate makes answers stop half-way through the catalog.
func (s *Server) Truncate(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncate = on
}

// Requests counts the catalog requests served.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// ServeHTTP answers GET /v2/pmv as Apple does: the catalog as JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v2/pmv" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	s.requests++
	status, truncate := s.status, s.truncate
	body, err := json.Marshal(s.catalog)
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if truncate {
		// Announce the whole length and send half: the client sees the
		// connection end early, as with a dropped download.
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body[:len(body)/2])
		return
	}
	_, _ = w.Write(body)
}
