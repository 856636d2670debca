package graph

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/generated"
	"github.com/orchardmdm/orchard/graph/model"
)

// HandlerConfig is what the GraphQL endpoint is built from.
type HandlerConfig struct {
	Resolver *Resolver
	Tokens   *auth.Tokens
	Logger   *slog.Logger
	Limits   Limits
	Metrics  prometheus.Registerer
	// NoIntrospection refuses __schema and __type (GraphiQL then shows no
	// schema), for installations that keep the schema from strangers; the
	// zero value keeps introspection on.
	NoIntrospection bool
}

// NewHandler serves GraphQL over POST, GET and websocket (graphql-transport-ws).
func NewHandler(cfg HandlerConfig) http.Handler {
	cfg.Limits = cfg.Limits.withDefaults()
	srv := handler.New(generated.NewExecutableSchema(generated.Config{
		Resolvers:  cfg.Resolver,
		Directives: generated.DirectiveRoot{HasPermission: HasPermission},
		Complexity: pageComplexity(),
	}))
	wsReadLimit := int64(cfg.Limits.Document.RequestBytes)
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
		// A message is one request: the same bound as an HTTP body.
		PayloadReadLimit: &wsReadLimit,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(postJSON{})
	srv.AddTransport(transport.MultipartForm{MaxUploadSize: maxUploadBytes, MaxMemory: maxUploadBytes})
	useExtensions(srv, cfg)
	srv.SetValidationRulesFn(cappedRules(cfg.Limits.Errors))
	srv.SetErrorPresenter(ErrorPresenter(cfg.Logger))
	srv.SetRecoverFunc(RecoverFunc(cfg.Logger))
	// The token is checked first (headers only), so the body's bound can
	// depend on the caller.
	return cfg.Tokens.Middleware(limitBody(cfg.Limits, LoaderMiddleware(cfg.Resolver.Store, srv)))
}

// useExtensions installs the checks every operation goes through, cheapest
// first: the document's size before it is parsed, then its shape, then the
// database slots of its resolvers and the size of its answer.
func useExtensions(srv *handler.Server, cfg HandlerConfig) {
	srv.Use(documentLimit{limits: cfg.Limits})
	if cfg.NoIntrospection {
		srv.Use(introspectionOff{})
	} else {
		srv.Use(extension.Introspection{})
	}
	srv.Use(sessionCheck{tokens: cfg.Tokens, every: 10 * time.Second})
	srv.Use(depthLimit{max: cfg.Limits.Depth, limits: cfg.Limits})
	srv.Use(extension.FixedComplexityLimit(cfg.Limits.Complexity))
	srv.Use(newDBGate(cfg.Limits.CallerDBConcurrency, cfg.Limits.DBConcurrency))
	srv.Use(responseLimit{errors: cfg.Limits.Errors, bytes: cfg.Limits.ResponseBytes})
	if cfg.Metrics != nil {
		srv.Use(newOperationMetrics(cfg.Metrics))
	}
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
	c.Query.Profiles = func(child int, first *int, _ *string) int { return weigh(child, first) }
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

// introspectionOff answers __schema and __type with a FORBIDDEN error that
// says why. (gqlgen refuses them anyway without extension.Introspection, but
// with an error the presenter can only show as INTERNAL.)
type introspectionOff struct{}

func (introspectionOff) ExtensionName() string                   { return "IntrospectionOff" }
func (introspectionOff) Validate(graphql.ExecutableSchema) error { return nil }

func (introspectionOff) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc != nil && fc.Object == "Query" && (fc.Field.Name == "__schema" || fc.Field.Name == "__type") {
		return nil, Forbidden("introspection is turned off on this server (--graphql-introspection)")
	}
	return next(ctx)
}
