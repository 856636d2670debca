package dep

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Error codes Apple puts in error bodies that callers act on.
const (
	CodeTermsNotSigned   = "T_C_NOT_SIGNED"
	CodeAccessDenied     = "ACCESS_DENIED"
	CodeForbidden        = "FORBIDDEN"
	CodeUnauthorized     = "UNAUTHORIZED"
	CodeExpiredCursor    = "EXPIRED_CURSOR"
	CodeInvalidCursor    = "INVALID_CURSOR"
	CodeExhaustedCursor  = "EXHAUSTED_CURSOR"
	CodeCursorRequired   = "CURSOR_REQUIRED"
	CodeMalformedRequest = "MALFORMED_REQUEST_BODY"
)

// Error is an error answer of the DEP service.
type Error struct {
	Status  int
	Code    string
	Message string
	Call    string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("dep %s: HTTP %d %s", e.Call, e.Status, e.Code)
	if e.Message != "" && e.Message != e.Code {
		msg += ": " + e.Message
	}
	switch e.Code {
	case CodeTermsNotSigned:
		msg += " (the Apple Business Manager administrator must accept the new terms and conditions)"
	case CodeAccessDenied:
		msg += " (the server token was revoked or does not grant this call; upload a new token)"
	}
	return msg
}

// HasCode reports whether err is a DEP error with one of the codes.
func HasCode(err error, codes ...string) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if e.Code == c {
			return true
		}
	}
	return false
}

// CursorReset reports whether Apple wants a full fetch again: the cursor
// expired or is not one Apple knows.
func CursorReset(err error) bool {
	return HasCode(err, CodeExpiredCursor, CodeInvalidCursor)
}

// parseError reads Apple's error body: either a bare code ("EXPIRED_CURSOR")
// or JSON {"code": ..., "message": ...}.
func parseError(call string, status int, body []byte) *Error {
	e := &Error{Status: status, Call: call}
	var j struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	text := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &j) == nil && j.Code != "" {
		e.Code, e.Message = j.Code, j.Message
		return e
	}
	if len(text) > 200 {
		text = text[:200]
	}
	if strings.Trim(text, `"`) != "" && !strings.ContainsAny(text, " <{") {
		e.Code = strings.Trim(text, `"`)
		return e
	}
	e.Message = text
	return e
}

// sessionExpired is Apple's way of saying a new session is needed.
func (e *Error) sessionExpired() bool {
	return e.Status == 401 || (e.Status == 403 && e.Code == CodeForbidden)
}
