package model

import (
	"time"

	"github.com/orchardmdm/orchard/store"
)

// DEPDeviceConnection is a page of DEP devices; it keeps its filter so
// totalCount is counted only when asked for.
type DEPDeviceConnection struct {
	Edges    []*DEPDeviceEdge
	PageInfo *PageInfo
	Filter   store.DEPDeviceFilter
}

// DEPProfile is a DEP profile with Apple's fields flattened for GraphQL.
type DEPProfile struct {
	ID                    int64
	VirtualServerID       int64
	Name                  string
	UUID                  string
	URL                   string
	IsSupervised          bool
	IsMandatory           bool
	IsMdmRemovable        bool
	AwaitDeviceConfigured bool
	AutoAdvanceSetup      bool
	IsMultiUser           bool
	AllowPairing          bool
	SkipSetupItems        []string
	Department            string
	SupportPhoneNumber    string
	SupportEmailAddress   string
	OrgMagic              string
	Language              string
	Region                string
	AnchorCerts           []string
	SupervisingHostCerts  []string
	DefinedAt             *time.Time
	CreatedAt             time.Time
	UpdatedAt             time.Time
}

// NewDEPProfile flattens a stored profile.
func NewDEPProfile(p *store.DEPProfile) *DEPProfile {
	if p == nil {
		return nil
	}
	f := p.Fields
	return &DEPProfile{
		ID: p.ID, VirtualServerID: p.VirtualServerID, Name: p.Name, UUID: p.ProfileUUID, URL: p.URL,
		IsSupervised: f.IsSupervised, IsMandatory: f.IsMandatory, IsMdmRemovable: f.IsMDMRemovable,
		AwaitDeviceConfigured: f.AwaitDeviceConfigured, AutoAdvanceSetup: f.AutoAdvanceSetup,
		IsMultiUser: f.IsMultiUser, AllowPairing: f.AllowPairing, SkipSetupItems: nonNil(f.SkipSetupItems),
		Department: f.Department, SupportPhoneNumber: f.SupportPhoneNumber, SupportEmailAddress: f.SupportEmailAddress,
		OrgMagic: f.OrgMagic, Language: f.Language, Region: f.Region, AnchorCerts: nonNil(f.AnchorCerts),
		SupervisingHostCerts: nonNil(f.SupervisingHostCerts), DefinedAt: p.DefinedAt, CreatedAt: p.CreatedAt,
		UpdatedAt: p.UpdatedAt,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
