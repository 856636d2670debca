package graph

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
)

// operationMetrics counts GraphQL operations and their latency by operation
// type and root field (both bounded by the schema, unlike operation names).
type operationMetrics struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newOperationMetrics(reg prometheus.Registerer) *operationMetrics {
	m := &operationMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orchard_graphql_operations_total",
			Help: "GraphQL operations by type, root field and outcome.",
		}, []string{"type", "field", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orchard_graphql_operation_duration_seconds",
			Help:    "GraphQL operation latency by type and root field.",
			Buckets: prometheus.DefBuckets,
		}, []string{"type", "field"}),
	}
	reg.MustRegister(m.total, m.duration)
	return m
}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = &operationMetrics{}

func (*operationMetrics) ExtensionName() string                   { return "OperationMetrics" }
func (*operationMetrics) Validate(graphql.ExecutableSchema) error { return nil }

func (m *operationMetrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	opType, field := "unknown", "unknown"
	if oc.Operation != nil {
		opType = string(oc.Operation.Operation)
		field = rootField(oc.Operation.SelectionSet)
	}
	start := time.Now()
	resp := next(ctx)
	outcome := "ok"
	if resp != nil && len(resp.Errors) > 0 {
		outcome = "error"
	}
	m.total.WithLabelValues(opType, field, outcome).Inc()
	m.duration.WithLabelValues(opType, field).Observe(time.Since(start).Seconds())
	return resp
}

// rootField names the first root field; validation has checked it exists.
func rootField(set ast.SelectionSet) string {
	for _, sel := range set {
		if f, ok := sel.(*ast.Field); ok {
			return f.Name
		}
	}
	return "fragment"
}
