package vppsim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/appsbooks"
)

// Location is one Apps and Books location the simulator serves.
type Location struct {
	UID, Name, OrgName, Country, Platform, Website string
	Expires                                        time.Time

	token    string
	revoked  bool
	config   appsbooks.ClientConfigRequest
	assets   []*appsbooks.Asset
	byKey    map[string]*appsbooks.Asset
	assigned map[string]map[string]bool // asset key -> serial numbers
	version  int
	events   map[string]*event
}

type event struct {
	id, kind string
	req      appsbooks.ManageRequest
	polls    int
	status   appsbooks.EventStatus
}

func assetKey(adamID, pricing string) string { return adamID + "/" + pricing }

func (l *Location) versionID() string {
	return fmt.Sprintf("%08x-5a7b-11eb-b9e4-%012x", l.version, l.version)
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// NewLocation adds a location and returns its content token file text.
func (s *Server) NewLocation(l Location) (*Location, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	loc := l
	loc.token = randomID()
	if loc.UID == "" {
		loc.UID = fmt.Sprintf("20490250%08d", len(s.tokens)+1)
	}
	if loc.Expires.IsZero() {
		loc.Expires = time.Now().AddDate(1, 0, 0)
	}
	loc.byKey, loc.assigned, loc.events = map[string]*appsbooks.Asset{}, map[string]map[string]bool{}, map[string]*event{}
	s.tokens[loc.token] = &loc
	return &loc, appsbooks.EncodeContentToken(loc.token, loc.OrgName, loc.Expires)
}

// RenewToken gives a location a new token (the old one stops working).
func (s *Server) RenewToken(l *Location, expires time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, l.token)
	l.token, l.Expires = randomID(), expires
	s.tokens[l.token] = l
	return appsbooks.EncodeContentToken(l.token, l.OrgName, l.Expires)
}

// Revoke makes a location's token refused, as Apple does when an
// administrator downloads a new one.
func (s *Server) Revoke(l *Location) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l.revoked = true
}

// AddAssets adds n apps with total licences each, and moves the version.
func (s *Server) AddAssets(l *Location, n, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		a := &appsbooks.Asset{AdamID: fmt.Sprint(400000000 + len(l.assets)), PricingParam: "STDQ", ProductType: "App",
			TotalCount: total, AvailableCount: total, DeviceAssignable: true, Revocable: true,
			SupportedPlatforms: []string{"iOS", "macOS"}}
		l.assets = append(l.assets, a)
		l.byKey[assetKey(a.AdamID, a.PricingParam)] = a
	}
	l.version++
}

// SetTotal changes an asset's licence count (a purchase or a refund) and
// moves the version; it returns the delta.
func (s *Server) SetTotal(l *Location, adamID string, total int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := l.byKey[assetKey(adamID, "STDQ")]
	delta := total - a.TotalCount
	a.TotalCount, a.AvailableCount = total, a.AvailableCount+delta
	l.version++
	return delta
}

// Assigned lists the serial numbers holding an asset's licences.
func (s *Server) Assigned(l *Location, adamID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for sn := range l.assigned[assetKey(adamID, "STDQ")] {
		out = append(out, sn)
	}
	slices.Sort(out)
	return out
}

// Registered is what orchard registered with POST client/config.
func (s *Server) Registered(l *Location) appsbooks.ClientConfigRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return l.config
}

// complete carries out an event: licences are given while they last.
func (l *Location) complete(e *event) {
	done := 0
	for _, ref := range e.req.Assets {
		a := l.byKey[assetKey(ref.AdamID, ref.PricingParam)]
		k := assetKey(ref.AdamID, ref.PricingParam)
		if l.assigned[k] == nil {
			l.assigned[k] = map[string]bool{}
		}
		for _, sn := range e.req.SerialNumbers {
			if ok := l.applyOne(e.kind, a, k, sn); ok {
				done++
			} else {
				e.status.Failures = append(e.status.Failures, appsbooks.EventFailure{AdamID: ref.AdamID,
					PricingParam: ref.PricingParam, SerialNumber: sn, ErrorMessage: "no licence to " + e.kind})
			}
		}
	}
	e.status.NumCompleted, e.status.EventStatus = done, appsbooks.EventComplete
	l.version++
}

func (l *Location) applyOne(kind string, a *appsbooks.Asset, k, sn string) bool {
	has := l.assigned[k][sn]
	switch {
	case kind == "ASSOCIATE" && has:
		return true
	case kind == "ASSOCIATE" && a.AvailableCount > 0:
		l.assigned[k][sn] = true
		a.AssignedCount, a.AvailableCount = a.AssignedCount+1, a.AvailableCount-1
		return true
	case kind == "DISASSOCIATE" && has:
		delete(l.assigned[k], sn)
		a.AssignedCount, a.AvailableCount = a.AssignedCount-1, a.AvailableCount+1
		return true
	case kind == "DISASSOCIATE":
		return true
	}
	return false
}

// AssignNow gives devices licences of an asset at once, as an event would.
func (s *Server) AssignNow(l *Location, adamID string, serials []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l.complete(&event{kind: "ASSOCIATE", req: appsbooks.ManageRequest{
		Assets: []appsbooks.AssetRef{{AdamID: adamID, PricingParam: "STDQ"}}, SerialNumbers: serials}})
}
