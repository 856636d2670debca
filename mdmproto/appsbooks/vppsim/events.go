package vppsim

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"

	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
)

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// manage starts an associate or disassociate event within Apple's limits.
func (s *Server) manage(kind string) func(http.ResponseWriter, *http.Request, *Location) {
	return func(w http.ResponseWriter, r *http.Request, l *Location) {
		var req appsbooks.ManageRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, appsbooks.ErrNumInvalidArgument, "Invalid argument")
			return
		}
		switch {
		case len(req.Assets) == 0 || len(req.SerialNumbers) == 0:
			writeError(w, http.StatusBadRequest, appsbooks.ErrNumMissingArgument, "Missing required argument")
			return
		case len(req.Assets) > Limits.MaxAssets || len(req.SerialNumbers) > Limits.MaxSerialNumbers:
			writeError(w, http.StatusBadRequest, appsbooks.ErrNumInvalidArgument, "Too many assets or serial numbers")
			return
		}
		for _, a := range req.Assets {
			if l.byKey[assetKey(a.AdamID, a.PricingParam)] == nil {
				writeError(w, http.StatusBadRequest, appsbooks.ErrNumInvalidArgument, "Unknown asset "+a.AdamID)
				return
			}
		}
		e := &event{id: randomID(), kind: kind, req: req, status: appsbooks.EventStatus{EventStatus: appsbooks.EventPending,
			EventType: kind, NumRequested: len(req.Assets) * len(req.SerialNumbers), UID: l.UID}}
		l.events[e.id] = e
		writeJSON(w, http.StatusOK, appsbooks.EventResponse{EventID: e.id, UID: l.UID,
			TokenExpirationDate: appsbooks.AppleTime{Time: l.Expires}})
	}
}

// getStatus answers an event's status; it completes after PendingPolls polls.
func (s *Server) getStatus(w http.ResponseWriter, r *http.Request, l *Location) {
	e := l.events[r.URL.Query().Get("eventId")]
	if e == nil {
		writeError(w, http.StatusBadRequest, appsbooks.ErrNumInvalidArgument, "Unknown eventId")
		return
	}
	if e.status.EventStatus == appsbooks.EventPending {
		e.polls++
		if e.polls > s.PendingPolls {
			l.complete(e)
		}
	}
	writeJSON(w, http.StatusOK, e.status)
}
