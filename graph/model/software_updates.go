package model

import (
	"time"

	"github.com/orchardmdm/orchard/store"
)

// SoftwareUpdateConnection is a page of the catalog; it keeps its filter so
// totalCount is counted only when asked for.
type SoftwareUpdateConnection struct {
	Edges    []*SoftwareUpdateEdge
	PageInfo *PageInfo
	Filter   store.SoftwareUpdateFilter
}

// SoftwareUpdateEnforcement is a blueprint's enforcement with unset fields null.
type SoftwareUpdateEnforcement struct {
	BlueprintID         int64
	Platform            string
	OSVersion           *string
	BuildVersion        *string
	TargetLocalDateTime *string
	LatestMinusDays     *int
	LocalTime           string
	DetailsURL          *string
	UpdatedAt           time.Time
}

// NewSoftwareUpdateEnforcement maps a stored enforcement.
func NewSoftwareUpdateEnforcement(e store.SoftwareUpdateEnforcement) *SoftwareUpdateEnforcement {
	out := &SoftwareUpdateEnforcement{BlueprintID: e.BlueprintID, Platform: e.Platform, OSVersion: nonEmpty(e.OSVersion),
		BuildVersion: nonEmpty(e.BuildVersion), LatestMinusDays: e.LatestMinusDays, LocalTime: e.LocalTime,
		DetailsURL: nonEmpty(e.DetailsURL), UpdatedAt: e.UpdatedAt}
	if e.TargetLocalDateTime != nil {
		s := e.TargetLocalDateTime.Format(store.LocalDateTimeLayout)
		out.TargetLocalDateTime = &s
	}
	return out
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
