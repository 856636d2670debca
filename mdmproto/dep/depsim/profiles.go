package depsim

import (
	"net/http"
	"strings"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/dep"
)

func (s *Server) defineProfile(w http.ResponseWriter, r *http.Request) {
	var p dep.Profile
	if err := readJSON(r, &p); err != nil || p.ProfileName == "" || p.URL == "" {
		fail(w, http.StatusBadRequest, dep.CodeMalformedRequest)
		return
	}
	if !strings.HasPrefix(p.URL, "https://") && !strings.HasPrefix(p.URL, "http://") {
		fail(w, http.StatusBadRequest, "CONFIG_URL_INVALID")
		return
	}
	p.ProfileUUID = strings.ToUpper(randomHex(16))
	devices := p.Devices
	p.Devices = nil
	s.profiles[p.ProfileUUID] = p
	writeJSON(w, dep.ProfileResult{ProfileUUID: p.ProfileUUID, Devices: s.assign(p.ProfileUUID, devices)})
}

func (s *Server) getProfile(w http.ResponseWriter, r *http.Request) {
	p, ok := s.profiles[r.URL.Query().Get("profile_uuid")]
	if !ok {
		fail(w, http.StatusBadRequest, "PROFILE_NOT_FOUND")
		return
	}
	writeJSON(w, p)
}

func (s *Server) assignProfile(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ProfileUUID string   `json:"profile_uuid"`
		Devices     []string `json:"devices"`
	}
	if err := readJSON(r, &req); err != nil || len(req.Devices) == 0 || len(req.Devices) > dep.MaxPage {
		fail(w, http.StatusBadRequest, dep.CodeMalformedRequest)
		return
	}
	if _, ok := s.profiles[req.ProfileUUID]; !ok {
		fail(w, http.StatusBadRequest, "PROFILE_NOT_FOUND")
		return
	}
	writeJSON(w, dep.ProfileResult{ProfileUUID: req.ProfileUUID, Devices: s.assign(req.ProfileUUID, req.Devices)})
}

// assign sets a profile on devices, as a change a sync reports; callers hold mu.
func (s *Server) assign(uuid string, serials []string) map[string]string {
	out := make(map[string]string, len(serials))
	now := s.cfg.Now().UTC().Truncate(time.Second)
	for _, serial := range serials {
		d, ok := s.bySerial[serial]
		if !ok || d.deleted {
			out[serial] = dep.ResultNotAccessible
			continue
		}
		d.ProfileUUID, d.ProfileStatus, d.ProfileAssignTime = uuid, dep.ProfileAssigned, &now
		s.record(serial, dep.OpModified)
		out[serial] = dep.ResultSuccess
	}
	return out
}

func (s *Server) removeProfile(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Devices []string `json:"devices"`
	}
	if err := readJSON(r, &req); err != nil || len(req.Devices) == 0 || len(req.Devices) > dep.MaxPage {
		fail(w, http.StatusBadRequest, dep.CodeMalformedRequest)
		return
	}
	out := make(map[string]string, len(req.Devices))
	for _, serial := range req.Devices {
		d, ok := s.bySerial[serial]
		if !ok || d.deleted {
			out[serial] = dep.ResultNotAccessible
			continue
		}
		d.ProfileUUID, d.ProfileStatus, d.ProfileAssignTime = "", dep.ProfileRemoved, nil
		s.record(serial, dep.OpModified)
		out[serial] = dep.ResultSuccess
	}
	writeJSON(w, dep.ProfileResult{Devices: out})
}
