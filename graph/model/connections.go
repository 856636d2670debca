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

// JobConnection is a page of jobs. It keeps its filter (River's kind and
// state, "" for any) so totalCount is counted only when asked for.
type JobConnection struct {
	Edges    []*JobEdge
	PageInfo *PageInfo
	Kind     string
	State    string
}

// DeviceCommandConnection is a page of a device's commands, with what
// totalCount counts.
type DeviceCommandConnection struct {
	Edges    []*DeviceCommandEdge
	PageInfo *PageInfo
	DeviceID int64
	Status   string
}

// InstalledApplicationConnection is a page of a device's applications.
type InstalledApplicationConnection struct {
	Edges    []*InstalledApplicationEdge
	PageInfo *PageInfo
	DeviceID int64
}

// DeviceCertificateConnection is a page of a device's certificates.
type DeviceCertificateConnection struct {
	Edges    []*DeviceCertificateEdge
	PageInfo *PageInfo
	DeviceID int64
}

// DeviceProfileConnection is a page of a device's profiles.
type DeviceProfileConnection struct {
	Edges    []*DeviceProfileEdge
	PageInfo *PageInfo
	DeviceID int64
}
