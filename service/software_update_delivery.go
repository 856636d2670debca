package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/swupdate"
	"github.com/orchardmdm/orchard/store"
)

// CatalogPlatform is the catalog's key for a device platform: Apple lists
// iPadOS, tvOS and watchOS releases under iOS.
func CatalogPlatform(platform string) string {
	switch platform {
	case "iPadOS", "tvOS", "watchOS":
		return "iOS"
	}
	return platform
}

// EnforcementRun is what one delivery of an enforcement did.
type EnforcementRun struct {
	// Scheduled devices were sent ScheduleOSUpdate.
	Scheduled int `json:"scheduled"`
	UpToDate  int `json:"up_to_date"`
	// AwaitingDDM devices use declarative management: they get the
	// enforcement declaration once orchard delivers declarations.
	AwaitingDDM int `json:"awaiting_ddm"`
	// Pending devices have a ScheduleOSUpdate not answered yet.
	Pending int `json:"pending"`
	// NoTarget devices have no release in the catalog to enforce.
	NoTarget int `json:"no_target"`
	// NextRun is the earliest deadline still to come, when the run must
	// happen again; nil when none.
	NextRun *time.Time `json:"next_run,omitempty"`
}

// EnforceSoftwareUpdate delivers a blueprint's enforcement of a platform to
// the devices without declarative management whose deadline has passed, as
// ScheduleOSUpdate (one command operation each). Deadlines are device-local
// date-times; orchard, not knowing the device's zone, reads them as UTC.
func (s *Service) EnforceSoftwareUpdate(ctx context.Context, actor string, blueprintID int64, platform string, now time.Time) (EnforcementRun, error) {
	var run EnforcementRun
	e, err := s.store.SoftwareUpdateEnforcement(ctx, blueprintID, platform)
	if errors.Is(err, store.ErrNotFound) {
		return run, nil // removed since the run was queued
	} else if err != nil {
		return run, err
	}
	devices, err := s.store.EnforcedDevices(ctx, blueprintID, platform)
	if err != nil {
		return run, err
	}
	wall := now.UTC().Truncate(time.Second)
	type target struct {
		t  swupdate.Target
		ok bool
	}
	byModel := map[string]target{} // fleets are mostly a few models: one catalog read each
	for _, d := range devices {
		key := strings.Join(d.CatalogIDs, "\x00")
		tm, seen := byModel[key]
		if !seen {
			t, ok, err := s.EnforcementTarget(ctx, e, d.CatalogIDs, now)
			if err != nil {
				return run, err
			}
			tm = target{t, ok}
			byModel[key] = tm
		}
		t, ok := tm.t, tm.ok
		switch {
		case !ok:
			run.NoTarget++
		case !VersionBefore(d.OSVersion, t.OSVersion):
			run.UpToDate++
		case d.DeclarativeManagement:
			run.AwaitingDDM++
		case d.PendingOSUpdate:
			run.Pending++
		case t.LocalDateTime.After(wall):
			if run.NextRun == nil || t.LocalDateTime.Before(*run.NextRun) {
				run.NextRun = &t.LocalDateTime
			}
		default:
			if err := s.scheduleOSUpdate(ctx, actor, d.ID, t); err != nil {
				return run, err
			}
			run.Scheduled++
		}
	}
	return run, nil
}

func (s *Service) scheduleOSUpdate(ctx context.Context, actor string, deviceID int64, t swupdate.Target) error {
	_, err := s.queueCommand(ctx, actor, deviceID, commandAction{requestType: "ScheduleOSUpdate",
		audit: "software_update_enforcement.schedule_os_update",
		build: func(*store.Device) (map[string]any, string, error) {
			return swupdate.ScheduleOSUpdatePayload(t.OSVersion), "", nil
		}})
	if IsKind(err, Invalid) || IsKind(err, NotFound) {
		// Blocked, checked out or gone since it was listed: nothing to send.
		return nil
	}
	return err
}

// EnforcementTarget is the release an enforcement asks of a device, known to
// the catalog by catalogIDs (store.catalogIDsOf): the specific target, or the
// latest release supported by the device posted at least N days ago, due N
// days after its posting at the local time. false when the catalog has no
// such release.
func (s *Service) EnforcementTarget(ctx context.Context, e store.SoftwareUpdateEnforcement, catalogIDs []string, now time.Time) (swupdate.Target, bool, error) {
	if e.LatestMinusDays == nil {
		if e.TargetLocalDateTime == nil {
			return swupdate.Target{}, false, nil
		}
		return swupdate.Target{OSVersion: e.OSVersion, BuildVersion: e.BuildVersion,
			LocalDateTime: *e.TargetLocalDateTime, DetailsURL: e.DetailsURL}, true, nil
	}
	if len(catalogIDs) == 0 {
		return swupdate.Target{}, false, nil
	}
	days := *e.LatestMinusDays
	u, err := s.store.LatestSoftwareUpdate(ctx, CatalogPlatform(e.Platform), catalogIDs, now.UTC().AddDate(0, 0, -days))
	if errors.Is(err, store.ErrNotFound) {
		return swupdate.Target{}, false, nil
	} else if err != nil {
		return swupdate.Target{}, false, err
	}
	hour, minute, err := clock(e.LocalTime)
	if err != nil {
		return swupdate.Target{}, false, err
	}
	due := u.PostingDate.AddDate(0, 0, days)
	due = time.Date(due.Year(), due.Month(), due.Day(), hour, minute, 0, 0, time.UTC)
	return swupdate.Target{OSVersion: u.ProductVersion, BuildVersion: u.Build, LocalDateTime: due, DetailsURL: e.DetailsURL}, true, nil
}

func clock(hhmm string) (int, int, error) {
	h, m, ok := strings.Cut(hhmm, ":")
	hour, err1 := strconv.Atoi(h)
	minute, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("local time %q is not hh:mm", hhmm)
	}
	return hour, minute, nil
}

// VersionBefore reports whether OS version a is older than b (18.9 before
// 18.10; 18.2 before 18.2.1). An unknown or malformed a is older.
func VersionBefore(a, b string) bool {
	pa, okA := versionParts(a)
	pb, _ := versionParts(b)
	if !okA {
		return true
	}
	for i := 0; i < max(len(pa), len(pb)); i++ {
		x, y := at(pa, i), at(pb, i)
		if x != y {
			return x < y
		}
	}
	return false
}

func versionParts(v string) ([]int, bool) {
	if !osVersionPattern.MatchString(v) {
		return nil, false
	}
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, _ := strconv.Atoi(p)
		out = append(out, n)
	}
	return out, true
}

func at(p []int, i int) int {
	if i < len(p) {
		return p[i]
	}
	return 0
}
