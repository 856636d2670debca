package mdmproto

import (
	"errors"
	"time"
)

// Channel is who a device request comes from: the device (and user) it names
// and the identity certificate it proved.
type Channel struct {
	Enrollment
	CertHash     []byte
	CertNotAfter time.Time
}

// TokenUpdateInfo is what a TokenUpdate check-in tells.
type TokenUpdateInfo struct {
	Token                 []byte
	PushMagic             string
	Topic                 string
	UnlockToken           []byte
	AwaitingConfiguration bool
}

// CommandResult is a device's answer to a command, as decoded from its report.
type CommandResult struct {
	Status      string
	CommandUUID string
	ErrorChain  []ErrorChainItem
	// Raw is the report as sent; JSON its fields for storage and queries.
	Raw  []byte
	JSON []byte
}

// NextCommand is the command plist to answer a device with; empty when none.
type NextCommand struct {
	UUID string
	Body []byte
	// ID, DeviceID and RequestType name the command on the server, so its
	// status event needs no second lookup; the device is sent only Body.
	ID, DeviceID int64
	RequestType  string
}

// Refusals of device requests; the MDM endpoint maps them to status codes.
var (
	// ErrDeviceBlocked: the device was blocked; it gets 401 and cannot re-enroll.
	ErrDeviceBlocked = errors.New("device is blocked")
	// ErrIdentityMismatch: the certificate is bound to another device, or the
	// device to another certificate.
	ErrIdentityMismatch = errors.New("identity certificate is bound to another enrollment")
	// ErrNotEnrolled: no Authenticate for this device, or it checked out.
	ErrNotEnrolled = errors.New("device is not enrolled")
	// ErrNoTokenUpdate: Authenticate was not followed by TokenUpdate yet.
	ErrNoTokenUpdate = errors.New("device has not sent TokenUpdate since Authenticate")
	// ErrUnknownEnrollment: no enrollment has the secret a profile URL carries.
	ErrUnknownEnrollment = errors.New("no such enrollment")
	// ErrEnrollmentClosed: the enrollment expired or issued all the identities
	// it may; its profile URL answers 410 and its challenges are refused.
	ErrEnrollmentClosed = errors.New("enrollment expired or used up")
)
