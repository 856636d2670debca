package vppsim

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, number int, msg string) {
	writeJSON(w, status, map[string]any{"errorNumber": number, "errorMessage": msg})
}

// authed finds the location of the bearer content token, counts the call
// and applies throttling; handlers run with the lock held.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *Location)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[r.URL.Path]++
		if s.throttle > 0 {
			s.throttle--
			wait := s.retryWait
			s.mu.Unlock()
			w.Header().Set("Retry-After", strconv.Itoa(wait))
			writeError(w, http.StatusTooManyRequests, 0, "Too many requests")
			return
		}
		s.mu.Unlock()
		stoken, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok, err := appsbooks.ParseContentToken([]byte(stoken))
		s.mu.Lock()
		defer s.mu.Unlock()
		l := s.tokens[tok.Token]
		switch {
		case err != nil || l == nil:
			writeError(w, http.StatusUnauthorized, appsbooks.ErrNumInvalidToken, "Invalid authentication token")
		case l.revoked:
			writeError(w, http.StatusUnauthorized, appsbooks.ErrNumTokenRevoked, "Token has been revoked")
		case !l.Expires.After(time.Now()):
			writeError(w, http.StatusUnauthorized, appsbooks.ErrNumTokenExpired, "The token has expired")
		default:
			h(w, r, l)
		}
	}
}

func (s *Server) clientConfig(l *Location) appsbooks.ClientConfig {
	return appsbooks.ClientConfig{CountryISO2ACode: l.Country, DefaultPlatform: l.Platform, LocationName: l.Name,
		MdmInfo: l.config.MdmInfo, NotificationTypes: l.config.NotificationTypes, NotificationURL: l.config.NotificationURL,
		TokenExpirationDate: appsbooks.AppleTime{Time: l.Expires}, UID: l.UID, WebsiteURL: l.Website}
}

func (s *Server) getClientConfig(w http.ResponseWriter, _ *http.Request, l *Location) {
	writeJSON(w, http.StatusOK, s.clientConfig(l))
}

func (s *Server) postClientConfig(w http.ResponseWriter, r *http.Request, l *Location) {
	var req appsbooks.ClientConfigRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, appsbooks.ErrNumInvalidArgument, "Invalid argument")
		return
	}
	if req.NotificationURL != "" && !strings.HasPrefix(req.NotificationURL, "http") {
		writeError(w, http.StatusBadRequest, appsbooks.ErrNumInvalidArgument, "notificationUrl is not a URL")
		return
	}
	l.config = req
	writeJSON(w, http.StatusOK, s.clientConfig(l))
}

func (s *Server) serviceConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, appsbooks.ServiceConfig{Limits: Limits, NotificationTypes: []string{
		appsbooks.NotifyAssetCount, appsbooks.NotifyAssetManagement, appsbooks.NotifyUserManagement, appsbooks.NotifyUserAssociated}})
}

// pageOf cuts a page out of n records, or answers an error for a bad index.
// The BeforePage hook runs with the lock released.
func (s *Server) pageOf(w http.ResponseWriter, r *http.Request, l *Location, n int) (appsbooks.Page, int, int, bool) {
	idx, err := strconv.Atoi(r.URL.Query().Get("pageIndex"))
	if r.URL.Query().Get("pageIndex") == "" {
		idx, err = 0, nil
	}
	if hook := s.BeforePage; hook != nil {
		s.mu.Unlock()
		hook(r.URL.Path, idx)
		s.mu.Lock()
	}
	size := max(s.PageSize, 1)
	total := max((n+size-1)/size, 1)
	if err != nil || idx < 0 || idx >= total {
		writeError(w, http.StatusBadRequest, appsbooks.ErrNumInvalidArgument, "Invalid pageIndex")
		return appsbooks.Page{}, 0, 0, false
	}
	p := appsbooks.Page{CurrentPageIndex: idx, Size: n, TotalPages: total, VersionID: l.versionID(), UID: l.UID,
		TokenExpirationDate: appsbooks.AppleTime{Time: l.Expires}}
	if idx+1 < total {
		next := idx + 1
		p.NextPageIndex = &next
	}
	return p, idx * size, min((idx+1)*size, n), true
}

func (s *Server) getAssets(w http.ResponseWriter, r *http.Request, l *Location) {
	p, from, to, ok := s.pageOf(w, r, l, len(l.assets))
	if !ok {
		return
	}
	out := appsbooks.AssetsPage{Page: p, Assets: []appsbooks.Asset{}}
	for _, a := range l.assets[from:to] {
		out.Assets = append(out.Assets, *a)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getAssignments(w http.ResponseWriter, r *http.Request, l *Location) {
	var all []appsbooks.Assignment
	for _, a := range l.assets {
		for _, sn := range sortedKeys(l.assigned[assetKey(a.AdamID, a.PricingParam)]) {
			all = append(all, appsbooks.Assignment{AdamID: a.AdamID, PricingParam: a.PricingParam, SerialNumber: sn})
		}
	}
	p, from, to, ok := s.pageOf(w, r, l, len(all))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, appsbooks.AssignmentsPage{Page: p, Assignments: append([]appsbooks.Assignment{}, all[from:to]...)})
}
