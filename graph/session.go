package graph

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orchardmdm/orchard/graph/auth"
)

// A websocket connection outlives the token check of its connection_init: a
// token revoked or expired afterwards must stop working on it too. HTTP
// requests were checked by the middleware moments before and are left alone.

type sessionKey struct{}

// wsSession marks the context of an authenticated websocket connection.
type wsSession struct {
	mu      sync.Mutex
	checked time.Time
	// active counts the connection's running operations: each subscription
	// holds a goroutine and a place at the event broker.
	active int
}

// maxOperationsPerConnection bounds the operations one websocket runs at once.
const maxOperationsPerConnection = 100

// start counts an operation in until ctx ends, unless the connection already
// runs as many as it may.
func (s *wsSession) start(ctx context.Context) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active >= maxOperationsPerConnection {
		return false
	}
	s.active++
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.active--
	})
	return true
}

func withSession(ctx context.Context) context.Context {
	if auth.FromContext(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, sessionKey{}, &wsSession{checked: time.Now()})
}

// due reports whether the token should be checked again; it is checked before
// every operation (every == 0) and at most once per every between the events
// of a running subscription.
func (s *wsSession) due(every time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.checked) < every {
		return false
	}
	s.checked = time.Now()
	return true
}

// sessionCheck is the gqlgen extension doing those checks.
type sessionCheck struct {
	tokens *auth.Tokens
	// every bounds how long a revoked token's subscription may still
	// receive events.
	every time.Duration
}

func (sessionCheck) ExtensionName() string                   { return "WebsocketTokenCheck" }
func (sessionCheck) Validate(graphql.ExecutableSchema) error { return nil }

func (c sessionCheck) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	sess, _ := ctx.Value(sessionKey{}).(*wsSession)
	if sess == nil {
		return next(ctx)
	}
	if sess.due(0) && !c.valid(ctx) {
		return graphql.OneShot(tokenGone())
	}
	// The operation gets its own context so a subscription whose token goes
	// bad can be ended: its resolver stops when the context does.
	ctx, cancel := context.WithCancel(ctx)
	if !sess.start(ctx) {
		cancel()
		return graphql.OneShot(tooManyOperations())
	}
	responses := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		if sess.due(c.every) && !c.valid(ctx) {
			cancel()
			return tokenGone()
		}
		resp := responses(ctx)
		if resp == nil {
			cancel()
		}
		return resp
	}
}

func (c sessionCheck) valid(ctx context.Context) bool {
	return c.tokens.StillValid(ctx, auth.FromContext(ctx)) == nil
}

func tooManyOperations() *graphql.Response {
	return &graphql.Response{Errors: gqlerror.List{{
		Message:    fmt.Sprintf("this connection already runs %d operations; complete one first", maxOperationsPerConnection),
		Extensions: map[string]any{"code": CodeBadUserInput, "limit": "operations per connection"},
	}}}
}

func tokenGone() *graphql.Response {
	return &graphql.Response{Errors: gqlerror.List{{
		Message:    "the API token of this connection was revoked or has expired",
		Extensions: map[string]any{"code": CodeUnauthenticated},
	}}}
}
