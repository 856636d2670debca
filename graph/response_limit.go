package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// responseLimit bounds what one response may carry: its error list and the
// size of its data. Whatever a document manages to produce, the answer stays
// small enough to build, send and read.
type responseLimit struct {
	errors int
	bytes  int
}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = responseLimit{}

func (responseLimit) ExtensionName() string                   { return "ResponseLimit" }
func (responseLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (l responseLimit) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil {
		return nil
	}
	if len(resp.Data) > l.bytes {
		resp.Data = nil
		tooLarge := gqlerror.Errorf("the response is larger than the limit of %d bytes: ask for fewer fields or a smaller page", l.bytes)
		tooLarge.Extensions = map[string]any{"code": CodeBadUserInput, "limit": "response bytes"}
		resp.Errors = append(gqlerror.List{tooLarge}, resp.Errors...)
	}
	resp.Errors = capErrors(resp.Errors, l.errors)
	return resp
}

// capErrors keeps the first max errors and says how many more there were.
func capErrors(errs gqlerror.List, maxErrors int) gqlerror.List {
	if len(errs) <= maxErrors {
		return errs
	}
	more := gqlerror.Errorf("%d more errors were left out", len(errs)-maxErrors)
	more.Extensions = map[string]any{"code": CodeBadUserInput, "limit": "errors"}
	return append(errs[:maxErrors:maxErrors], more)
}

// cappedRules are gqlparser's rules, each reporting at most maxErrors errors
// per document: a rule that finds a conflict in every pair of n fields would
// otherwise build n² messages.
func cappedRules(maxErrors int) func() *rules.Rules {
	return func() *rules.Rules {
		capped := &rules.Rules{}
		for name, rule := range rules.NewDefaultRules().GetInner() {
			capped.AddRule(name, capRule(rule, maxErrors))
		}
		return capped
	}
}

func capRule(rule core.RuleFunc, maxErrors int) core.RuleFunc {
	return func(observers *core.Events, addError core.AddErrFunc) {
		reported := 0
		rule(observers, func(options ...core.ErrorOption) {
			if reported++; reported <= maxErrors {
				addError(options...)
			}
		})
	}
}
