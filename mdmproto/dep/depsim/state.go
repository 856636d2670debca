package depsim

import (
	"fmt"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/dep"
)

var models = []struct{ model, description, family, os string }{
	{"MacBook Air", "MBA 13.6 M2", "Mac", "OSX"},
	{"MacBook Pro", "MBP 14 M3", "Mac", "OSX"},
	{"iPad Air", "IPAD AIR WI-FI 64GB", "iPad", "iOS"},
	{"iPhone 15", "IPHONE 15 128GB", "iPhone", "iOS"},
	{"Apple TV 4K", "APPLE TV 4K 64GB", "AppleTV", "tvOS"},
}

var colors = []string{"SILVER", "SPACE GRAY", "MIDNIGHT", "STARLIGHT"}

// AddDevices assigns n new generated devices to the server and returns their
// serial numbers; a sync reports them as added.
func (s *Server) AddDevices(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now().UTC().Truncate(time.Second)
	serials := make([]string, 0, n)
	for range n {
		i := len(s.devices)
		m := models[i%len(models)]
		d := &record{Device: dep.Device{
			SerialNumber: fmt.Sprintf("SIM%09d", i), Model: m.model, Description: m.description,
			Color: colors[i%len(colors)], OS: m.os, DeviceFamily: m.family, ProfileStatus: dep.ProfileEmpty,
			DeviceAssignedDate: &now, DeviceAssignedBy: "admin@example.com",
		}}
		s.devices = append(s.devices, d)
		s.bySerial[d.SerialNumber] = d
		s.record(d.SerialNumber, dep.OpAdded)
		serials = append(serials, d.SerialNumber)
	}
	return serials
}

// ModifyDevice changes a device's asset tag; a sync reports it as modified.
func (s *Server) ModifyDevice(serial, assetTag string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.bySerial[serial]
	if !ok || d.deleted {
		return fmt.Errorf("depsim: no device %s", serial)
	}
	d.AssetTag = assetTag
	s.record(serial, dep.OpModified)
	return nil
}

// DeleteDevice unassigns a device from the server; a sync reports it as deleted.
func (s *Server) DeleteDevice(serial string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.bySerial[serial]
	if !ok || d.deleted {
		return fmt.Errorf("depsim: no device %s", serial)
	}
	d.deleted = true
	s.record(serial, dep.OpDeleted)
	return nil
}

// Device returns the simulator's view of a device.
func (s *Server) Device(serial string) (dep.Device, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.bySerial[serial]
	if !ok || d.deleted {
		return dep.Device{}, false
	}
	return d.Device, true
}

// ExpireSessions ends every session: the next call gets 401.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
}

// ExpireCursors makes every cursor issued so far EXPIRED_CURSOR.
func (s *Server) ExpireCursors() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursorEpoch++
}

// FailNext makes the next n calls (sessions included) answer status, with a
// Retry-After header when retryAfter is not empty.
func (s *Server) FailNext(n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status: status, retryAfter: retryAfter})
	}
}

// FailNextCode makes the next n calls answer status with an Apple error code
// as body, e.g. 403 ACCESS_DENIED or 403 FORBIDDEN.
func (s *Server) FailNextCode(n, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status: status, code: code})
	}
}

// SetTermsUnsigned makes every call answer 403 T_C_NOT_SIGNED, as Apple does
// until an administrator accepts new terms.
func (s *Server) SetTermsUnsigned(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.termsUnsigned = v
}

// Requests counts the calls received per path.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// record appends a change; callers hold mu.
func (s *Server) record(serial, op string) {
	s.changes = append(s.changes, change{serial: serial, op: op, at: s.cfg.Now().UTC().Truncate(time.Second)})
}
