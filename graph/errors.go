package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// Error codes carried in extensions.code.
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeNotFound        = "NOT_FOUND"
	CodeInternal        = "INTERNAL"
	// CodeBadRequest is a request that is not GraphQL at all (a body that is
	// not JSON, a transport error) or is larger than allowed.
	CodeBadRequest = "BAD_REQUEST"
)

// codedError is an error whose message is safe to show the caller.
type codedError struct {
	code string
	msg  string
}

func (e *codedError) Error() string { return e.msg }

// BadInput reports an argument the caller must fix.
func BadInput(format string, args ...any) error {
	return &codedError{code: CodeBadUserInput, msg: fmt.Sprintf(format, args...)}
}

// NotFound reports an object that does not exist.
func NotFound(format string, args ...any) error {
	return &codedError{code: CodeNotFound, msg: fmt.Sprintf(format, args...)}
}

// Forbidden reports a missing permission.
func Forbidden(format string, args ...any) error {
	return &codedError{code: CodeForbidden, msg: fmt.Sprintf(format, args...)}
}

// Unauthenticated reports a request without a usable token.
func Unauthenticated() error {
	return &codedError{code: CodeUnauthenticated, msg: "authentication required: send Authorization: Bearer <token>"}
}

// serviceCodes are the codes of the service layer's refusals.
var serviceCodes = map[service.Kind]string{service.Invalid: CodeBadUserInput, service.NotFound: CodeNotFound}

// ErrorPresenter turns errors into GraphQL errors with a code. Anything not
// coded is logged and shown as INTERNAL, so SQL and secrets never leak; what
// the caller sent (a body, a query, variables) is never logged.
func ErrorPresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var coded *codedError
		var refused *service.Error
		var parsed *gqlerror.Error
		switch {
		case errors.As(err, &coded):
			gqlErr.Message = coded.msg
			setCode(gqlErr, coded.code)
		case errors.As(err, &refused):
			gqlErr.Message = refused.Msg
			setCode(gqlErr, serviceCodes[refused.Kind])
		case errors.Is(err, store.ErrNotFound):
			gqlErr.Message = "not found"
			setCode(gqlErr, CodeNotFound)
		case errors.As(err, &parsed) && parsed.Extensions["code"] != nil:
			// gqlgen's own validation and argument errors already carry a code.
			// Limits are the caller's to fix: one of the codes clients branch on.
			if code, _ := parsed.Extensions["code"].(string); code == "COMPLEXITY_LIMIT_EXCEEDED" {
				setCode(gqlErr, CodeBadUserInput)
			}
		case errors.As(err, &parsed) && parsed.Err == nil:
			// gqlgen's transports describe a request they could not read, at
			// times quoting it: the caller's to fix, and none of the log's
			// business. Quotes are cut short.
			gqlErr.Message = capText(gqlErr.Message, maxShownMessage)
			setCode(gqlErr, CodeBadRequest)
		case errors.Is(err, context.Canceled):
			gqlErr.Message = "request cancelled"
			setCode(gqlErr, CodeInternal)
		default:
			logger.ErrorContext(ctx, "graphql resolver failed", "path", gqlErr.Path.String(),
				"err", capText(err.Error(), maxLoggedError))
			gqlErr.Message = "internal error"
			setCode(gqlErr, CodeInternal)
		}
		return gqlErr
	}
}

// A log line or an error message holds a summary, never a whole request: one
// 1.5 MB body used to become a 1.5 MB log line.
const (
	maxLoggedError  = 1024
	maxShownMessage = 256
)

// capText cuts s to at most n bytes, on a rune boundary.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (cut)"
}

func setCode(e *gqlerror.Error, code string) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["code"] = code
}

// RecoverFunc keeps a panicking resolver from taking the process down.
func RecoverFunc(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "graphql resolver panicked", "panic", capText(fmt.Sprint(p), maxLoggedError))
		return errors.New("internal error")
	}
}
