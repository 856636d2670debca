package model

import "github.com/orchardmdm/orchard/store"

// DeviceConnection is a page of devices. It keeps its filter so totalCount is
// counted only when a client asks for it.
type DeviceConnection struct {
	Edges    []*DeviceEdge
	PageInfo *PageInfo
	Filter   store.DeviceFilter
}

// BlueprintConnection is a page of blueprints.
type BlueprintConnection struct {
	Edges    []*BlueprintEdge
	PageInfo *PageInfo
}

// AuditEventConnection is a page of audit events.
type AuditEventConnection struct {
	Edges    []*AuditEventEdge
	PageInfo *PageInfo
}

// EnrollmentConnection is a page of OTA enrollments.
type EnrollmentConnection struct {
	Edges    []*EnrollmentEdge
	PageInfo *PageInfo
}
