package graph

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/generated"
	"github.com/orchardmdm/orchard/graph/model"
)

// Limits bound what one operation may ask for.
type Limits struct {
	// Complexity counts fields, lists weighted by their page size.
	Complexity int
	// Depth counts nested selections; GraphiQL's introspection query needs 13.
	Depth int
}

// DefaultLimits allow a full page of devices with every field, and no more.
func DefaultLimits() Limits { return Limits{Complexity: 25000, Depth: 15} }

// HandlerConfig is what the GraphQL endpoint is built from.
type HandlerConfig struct {
	Resolver *Resolver
	Tokens   *auth.Tokens
	Logger   *slog.Logger
	Limits   Limits
	Metrics  prometheus.Registerer
}

// NewHandler serves GraphQL over POST and over websocket (graphql-transport-ws).
func NewHandler(cfg HandlerConfig) http.Handler {
	srv := handler.New(generated.NewExecutableSchema(generated.Config{
		Resolvers:  cfg.Resolver,
		Directives: generated.DirectiveRoot{HasPermission: HasPermission},
		Complexity: pageComplexity(),
	}))
	srv.AddTransport(transport.Websocket{
		KeepAlivePingInterval: 15 * time.Second,
		// Tokens travel in connection_init, not cookies, so other origins cannot
		// ride on a browser's credentials: any origin may connect.
		Implementation: transport.CoderWebsocketImplementation{
			AcceptOptions: websocket.AcceptOptions{InsecureSkipVerify: true},
		},
		InitFunc: websocketAuth(cfg.Tokens),
		// A connection that never authenticates is not kept open.
		InitTimeout: 30 * time.Second,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.AddTransport(transport.MultipartForm{MaxUploadSize: maxUploadBytes, MaxMemory: maxUploadBytes})
	srv.Use(extension.Introspection{})
	srv.Use(sessionCheck{tokens: cfg.Tokens, every: 10 * time.Second})
	srv.Use(extension.FixedComplexityLimit(cfg.Limits.Complexity))
	srv.Use(depthLimit{max: cfg.Limits.Depth})
	if cfg.Metrics != nil {
		srv.Use(newOperationMetrics(cfg.Metrics))
	}
	srv.SetErrorPresenter(ErrorPresenter(cfg.Logger))
	srv.SetRecoverFunc(RecoverFunc(cfg.Logger))
	return limitBody(cfg.Tokens.Middleware(LoaderMiddleware(cfg.Resolver.Store, srv)))
}

// Request bodies are read whole by gqlgen: without a bound, one large POST
// (no token needed to send it) could exhaust memory.
const (
	maxRequestBytes = 2 << 20
	maxUploadBytes  = 10 << 20
)

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := int64(maxRequestBytes)
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			limit = maxUploadBytes + 1<<20 // the upload plus the operation around it
		}
		if r.ContentLength > limit {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		// Bodies of unknown length stop at the limit; gqlgen then answers
		// with an error.
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// websocketAuth accepts the token in connection_init's payload, as
// {"Authorization": "Bearer <token>"}; a token on the upgrade request's header
// was already checked by the HTTP middleware.
func websocketAuth(tokens *auth.Tokens) transport.WebsocketInitFunc {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		header := payload.Authorization()
		if header == "" {
			if v, ok := payload["authorization"].(string); ok {
				header = v
			}
		}
		if header == "" {
			return withSession(ctx), nil, nil
		}
		p, err := tokens.FromHeader(ctx, header)
		if err != nil {
			return ctx, nil, Unauthenticated()
		}
		return withSession(auth.WithPrincipal(ctx, p)), nil, nil
	}
}

// pageComplexity weighs list fields by the page size they ask for.
func pageComplexity() generated.ComplexityRoot {
	var c generated.ComplexityRoot
	c.Query.Devices = func(child int, _ *model.DeviceFilter, first *int, _ *string) int { return weigh(child, first) }
	c.Query.Blueprints = func(child int, first *int, _ *string) int { return weigh(child, first) }
	c.Query.AuditEvents = func(child int, first *int, _ *string) int { return weigh(child, first) }
	c.Query.Jobs = func(child int, _ *model.JobFilter, first *int, _ *string) int { return weigh(child, first) }
	c.Query.Enrollments = func(child int, first *int, _ *string) int { return weigh(child, first) }
	c.Device.Commands = func(child int, first *int, _ *string, _ *model.DeviceCommandStatus) int { return weigh(child, first) }
	c.Query.DepDevices = func(child int, _ *model.DEPDeviceFilter, first *int, _ *string) int { return weigh(child, first) }
	return c
}

func weigh(child int, first *int) int {
	n := 50
	if first != nil && *first > 0 {
		n = *first
	}
	return 1 + child*n
}
