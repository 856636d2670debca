package graph_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/graph/generated"
)

// undocumented names every type, field, argument, enum value and directive
// of the schema (built-ins and introspection types aside) that has no
// description, as Type, Type.field, Type.field(arg) or @directive(arg).
func undocumented(schema *ast.Schema) []string {
	var missing []string
	for name, def := range schema.Types {
		if def.BuiltIn || strings.HasPrefix(name, "__") {
			continue
		}
		if strings.TrimSpace(def.Description) == "" {
			missing = append(missing, name)
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			if strings.TrimSpace(f.Description) == "" {
				missing = append(missing, name+"."+f.Name)
			}
			for _, a := range f.Arguments {
				if strings.TrimSpace(a.Description) == "" {
					missing = append(missing, name+"."+f.Name+"("+a.Name+")")
				}
			}
		}
		for _, v := range def.EnumValues {
			if strings.TrimSpace(v.Description) == "" {
				missing = append(missing, name+"."+v.Name)
			}
		}
	}
	for name, d := range schema.Directives {
		if d.Position == nil || d.Position.Src == nil || d.Position.Src.BuiltIn {
			continue
		}
		if strings.TrimSpace(d.Description) == "" {
			missing = append(missing, "@"+name)
		}
		for _, a := range d.Arguments {
			if strings.TrimSpace(a.Description) == "" {
				missing = append(missing, "@"+name+"("+a.Name+")")
			}
		}
	}
	sort.Strings(missing)
	return missing
}

// TestEverySchemaElementHasADescription keeps the schema self-documenting:
// GraphiQL and generated clients show these descriptions to API users.
func TestEverySchemaElementHasADescription(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{}}).Schema()
	if len(schema.Types) < 20 {
		t.Fatalf("found only %d types; is the schema loaded?", len(schema.Types))
	}
	missing := undocumented(schema)
	for _, name := range missing {
		t.Errorf("%s has no description", name)
	}
	if len(missing) > 0 {
		t.Logf("%d schema elements lack a description", len(missing))
	}
}
