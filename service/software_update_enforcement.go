package service

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"time"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/store"
)

// EnforcementPlatforms are the device platforms an enforcement may name.
var EnforcementPlatforms = map[string]bool{"iOS": true, "iPadOS": true, "macOS": true, "tvOS": true, "visionOS": true, "watchOS": true}

// EnforcementInput is what setSoftwareUpdateEnforcement asks: a specific
// target (OSVersion, TargetLocalDateTime, optional BuildVersion) or
// LatestMinusDays.
type EnforcementInput struct {
	Platform            string
	OSVersion           string
	BuildVersion        string
	TargetLocalDateTime string
	LatestMinusDays     *int
	LocalTime           string
	DetailsURL          string
}

var (
	osVersionPattern = regexp.MustCompile(`^[0-9]{1,4}(\.[0-9]{1,4}){0,3}$`)
	buildPattern     = regexp.MustCompile(`^[0-9A-Za-z]{1,32}$`)
	localTimePattern = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
)

// checkEnforcement turns the input into what is stored, or refuses it.
func checkEnforcement(blueprintID int64, in EnforcementInput, now time.Time) (store.SoftwareUpdateEnforcement, error) {
	e := store.SoftwareUpdateEnforcement{BlueprintID: blueprintID, Platform: in.Platform, OSVersion: in.OSVersion,
		BuildVersion: in.BuildVersion, LatestMinusDays: in.LatestMinusDays, LocalTime: in.LocalTime, DetailsURL: in.DetailsURL}
	if e.LocalTime == "" {
		e.LocalTime = "09:00"
	}
	switch {
	case !EnforcementPlatforms[in.Platform]:
		return e, invalid("platform %q: want iOS, iPadOS, macOS, tvOS, visionOS or watchOS", in.Platform)
	case !localTimePattern.MatchString(e.LocalTime):
		return e, invalid("localTime %q: want hh:mm", e.LocalTime)
	case in.DetailsURL != "" && !httpsURL(in.DetailsURL):
		return e, invalid("detailsUrl must be an https URL of at most 2,048 characters")
	case (in.LatestMinusDays != nil) == (in.OSVersion != "" || in.TargetLocalDateTime != ""):
		return e, invalid("give either osVersion and targetLocalDateTime, or latestMinusDays")
	case in.LatestMinusDays != nil:
		if *in.LatestMinusDays < 0 || *in.LatestMinusDays > 365 || in.BuildVersion != "" {
			return e, invalid("latestMinusDays must be 0 to 365, without a build version")
		}
		return e, nil
	}
	if !osVersionPattern.MatchString(in.OSVersion) {
		return e, invalid("osVersion %q is not a version such as 18.2.1", in.OSVersion)
	}
	if in.BuildVersion != "" && !buildPattern.MatchString(in.BuildVersion) {
		return e, invalid("buildVersion %q is not a build such as 22C161", in.BuildVersion)
	}
	at, err := time.Parse(store.LocalDateTimeLayout, in.TargetLocalDateTime)
	if err != nil {
		return e, invalid("targetLocalDateTime %q: want yyyy-mm-ddThh:mm:ss", in.TargetLocalDateTime)
	}
	// A local time is in the past everywhere once it has passed in the last
	// time zone (UTC-12).
	if at.Before(now.UTC().Add(-12 * time.Hour)) {
		return e, invalid("targetLocalDateTime %s is in the past", in.TargetLocalDateTime)
	}
	e.TargetLocalDateTime = &at
	return e, nil
}

func httpsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && len(s) <= 2048 && u.Scheme == "https" && u.Host != "" && u.User == nil
}

// SetSoftwareUpdateEnforcement sets what a blueprint enforces on a platform
// and queues its delivery to the blueprint's devices.
func (s *Service) SetSoftwareUpdateEnforcement(ctx context.Context, actor string, blueprintID int64, in EnforcementInput) (store.SoftwareUpdateEnforcement, error) {
	e, err := checkEnforcement(blueprintID, in, time.Now())
	if err != nil {
		return e, err
	}
	err = s.store.Tx(ctx, func(q *store.Queries) error {
		if e, err = q.PutSoftwareUpdateEnforcement(ctx, e); errors.Is(err, store.ErrNotFound) {
			return notFound("no blueprint with id %d", blueprintID)
		} else if err != nil {
			return err
		}
		res, err := s.jobs.InsertTx(ctx, q.PgxTx(), jobargs.SoftwareUpdateEnforce{BlueprintID: blueprintID, Platform: e.Platform}, nil)
		if err != nil {
			return err
		}
		// Devices with declarative management get it as a declaration.
		if err := s.blueprintsChanged(ctx, q, []int64{blueprintID}); err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "software_update_enforcement.set", objectType: "blueprint",
			objectID: idString(blueprintID), data: map[string]any{"platform": e.Platform, "os_version": e.OSVersion,
				"build_version": e.BuildVersion, "target_local_datetime": in.TargetLocalDateTime,
				"latest_minus_days": e.LatestMinusDays, "local_time": e.LocalTime, "job_id": res.Job.ID}})
	})
	return e, err
}

// RemoveSoftwareUpdateEnforcement stops enforcing a platform's updates on a
// blueprint; false (and no audit) when none was set.
func (s *Service) RemoveSoftwareUpdateEnforcement(ctx context.Context, actor string, blueprintID int64, platform string) (bool, error) {
	if !EnforcementPlatforms[platform] {
		return false, invalid("platform %q: want iOS, iPadOS, macOS, tvOS, visionOS or watchOS", platform)
	}
	var removed bool
	err := s.store.Tx(ctx, func(q *store.Queries) error {
		var err error
		if removed, err = q.DeleteSoftwareUpdateEnforcement(ctx, blueprintID, platform); err != nil || !removed {
			return err
		}
		if err := s.blueprintsChanged(ctx, q, []int64{blueprintID}); err != nil {
			return err
		}
		return s.audit(ctx, q, actor, event{action: "software_update_enforcement.remove", objectType: "blueprint",
			objectID: idString(blueprintID), data: map[string]any{"platform": platform}})
	})
	return removed, err
}
