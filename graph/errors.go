package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

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
// coded is logged and shown as INTERNAL, so SQL and secrets never leak.
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
		case errors.Is(err, context.Canceled):
			gqlErr.Message = "request cancelled"
			setCode(gqlErr, CodeInternal)
		default:
			logger.ErrorContext(ctx, "graphql resolver failed", "path", gqlErr.Path.String(), "err", err)
			gqlErr.Message = "internal error"
			setCode(gqlErr, CodeInternal)
		}
		return gqlErr
	}
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
		logger.ErrorContext(ctx, "graphql resolver panicked", "panic", p)
		return errors.New("internal error")
	}
}
