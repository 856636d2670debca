package appsbooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Apple's errorNumbers that callers act on.
const (
	ErrNumMissingArgument = 9600
	ErrNumInvalidArgument = 9602
	ErrNumLicenseAssigned = 9616
	ErrNumNotAssociated   = 9619
	ErrNumTokenExpired    = 9621
	ErrNumInvalidToken    = 9622
	ErrNumTokenRevoked    = 9625
)

// Error is an error answer of the service: {errorNumber, errorMessage}.
type Error struct {
	Call    string
	Status  int
	Number  int
	Message string
	// RetryAfter is Apple's Retry-After on a rate-limited answer.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("apps and books %s: HTTP %d", e.Call, e.Status)
	if e.Number != 0 {
		msg += fmt.Sprintf(" error %d", e.Number)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// TokenRefused reports whether Apple refused the token itself: invalid,
// expired or revoked. Only a new token from Apple Business Manager helps.
func TokenRefused(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Status == 401 || e.Number == ErrNumInvalidToken || e.Number == ErrNumTokenExpired || e.Number == ErrNumTokenRevoked
}

// RateLimited reports whether Apple asked to slow down, and for how long.
func RateLimited(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && (e.Status == 429 || e.Status == 503) {
		return e.RetryAfter, true
	}
	return 0, false
}

func parseError(call string, status int, body []byte) *Error {
	e := &Error{Call: call, Status: status}
	var j struct {
		ErrorNumber  int    `json:"errorNumber"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &j) == nil && (j.ErrorNumber != 0 || j.ErrorMessage != "") {
		e.Number, e.Message = j.ErrorNumber, j.ErrorMessage
		return e
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200]
	}
	e.Message = strings.ToValidUTF8(text, "")
	return e
}
