package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/graph/generated"
)

// rootFields lists every query, mutation and subscription field of the schema.
func rootFields(t *testing.T) (*ast.Schema, []*ast.FieldDefinition, map[*ast.FieldDefinition]ast.Operation) {
	t.Helper()
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{}}).Schema()
	var fields []*ast.FieldDefinition
	ops := map[*ast.FieldDefinition]ast.Operation{}
	for op, def := range map[ast.Operation]*ast.Definition{
		ast.Query: schema.Query, ast.Mutation: schema.Mutation, ast.Subscription: schema.Subscription,
	} {
		if def == nil {
			continue
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			fields = append(fields, f)
			ops[f] = op
		}
	}
	return schema, fields, ops
}

func TestEveryRootFieldRequiresAPermission(t *testing.T) {
	_, fields, ops := rootFields(t)
	if len(fields) < 8 {
		t.Fatalf("found only %d root fields; is the schema loaded?", len(fields))
	}
	for _, f := range fields {
		d := f.Directives.ForName("hasPermission")
		if d == nil {
			t.Errorf("%s.%s has no @hasPermission", ops[f], f.Name)
			continue
		}
		if perm := d.Arguments.ForName("permission").Value.Raw; !strings.HasPrefix(perm, "mdm.") {
			t.Errorf("%s.%s: permission %q is not an mdm.* permission", ops[f], f.Name, perm)
		}
	}
}

// TestEveryOperationRefusesCallersWithoutPermission calls each root field,
// built from the schema, with no token and with a token lacking its permission.
func TestEveryOperationRefusesCallersWithoutPermission(t *testing.T) {
	api := newTestAPI(t)
	schema, fields, ops := rootFields(t)
	for _, f := range fields {
		perm := f.Directives.ForName("hasPermission").Arguments.ForName("permission").Value.Raw
		other := "mdm.view_job"
		if perm == other {
			other = "mdm.view_enrolleddevice"
		}
		query := fmt.Sprintf("%s { %s%s%s }", ops[f], f.Name, argumentLiterals(schema, f.Arguments), selection(schema, f.Type))
		for _, tc := range []struct {
			token string
			want  string
		}{
			{"", graph.CodeUnauthenticated},
			{api.token(other), graph.CodeForbidden},
		} {
			var res gqlResponse
			if ops[f] == ast.Subscription {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				res = api.subscribe(ctx, tc.token, query, nil).next(ctx)
				cancel()
			} else {
				res = api.query(tc.token, query, nil)
			}
			if res.code() != tc.want {
				t.Errorf("%s with token %v: code %q (errors %+v), want %s", query, tc.token != "", res.code(), res.Errors, tc.want)
			}
		}
	}
}

// argumentLiterals fills the required arguments with values of the right type.
func argumentLiterals(schema *ast.Schema, args ast.ArgumentDefinitionList) string {
	var parts []string
	for _, a := range args {
		if a.Type.NonNull && a.DefaultValue == nil {
			parts = append(parts, a.Name+": "+literal(schema, a.Type))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func literal(schema *ast.Schema, typ *ast.Type) string {
	if typ.Elem != nil {
		return "[" + literal(schema, typ.Elem) + "]"
	}
	def := schema.Types[typ.NamedType]
	switch {
	case def.Kind == ast.Enum:
		return def.EnumValues[0].Name
	case def.Kind == ast.InputObject:
		var parts []string
		for _, f := range def.Fields {
			if f.Type.NonNull && f.DefaultValue == nil {
				parts = append(parts, f.Name+": "+literal(schema, f.Type))
			}
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	switch typ.NamedType {
	case "Int":
		return "1"
	case "Float":
		return "1.5"
	case "Boolean":
		return "true"
	case "JSON":
		return "{}"
	}
	return `"1"`
}

func selection(schema *ast.Schema, typ *ast.Type) string {
	for typ.Elem != nil {
		typ = typ.Elem
	}
	switch schema.Types[typ.NamedType].Kind {
	case ast.Object, ast.Interface, ast.Union:
		return " { __typename }"
	}
	return ""
}
