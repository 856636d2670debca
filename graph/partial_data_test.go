package graph_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orchardmdm/orchard/graph"
	"github.com/orchardmdm/orchard/graph/generated"
)

// TestPermissionGuardedFieldsOfObjectsAreNullable keeps one forbidden field
// from nulling its parent (and, up a chain of non-null fields, the whole
// response): a field below the root guarded by @hasPermission must be nullable.
func TestPermissionGuardedFieldsOfObjectsAreNullable(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{}}).Schema()
	roots := map[*ast.Definition]bool{schema.Query: true, schema.Mutation: true, schema.Subscription: true}
	guarded := 0
	for name, def := range schema.Types {
		if roots[def] || def.Kind != ast.Object {
			continue
		}
		for _, f := range def.Fields {
			if f.Directives.ForName("hasPermission") == nil {
				continue
			}
			guarded++
			if f.Type.NonNull {
				t.Errorf("%s.%s is guarded by @hasPermission but non-null (%s)", name, f.Name, f.Type)
			}
		}
	}
	if guarded < 10 {
		t.Fatalf("found only %d guarded fields below the root; is the schema loaded?", guarded)
	}
}

// TestForbiddenFieldFailsAlone lists devices with a token that may see
// devices but not their commands: the devices come back, each with commands
// null and a FORBIDDEN error at its path, instead of data: null.
func TestForbiddenFieldFailsAlone(t *testing.T) {
	api := newTestAPI(t)
	addDevices(t, api.store, 2, "macOS", nil)
	tok := api.token("mdm.view_enrolleddevice")
	res := api.query(tok, `{ devices { edges { node { serialNumber commands { totalCount } } } } }`, nil)
	var data struct {
		Devices *struct {
			Edges []struct {
				Node struct {
					SerialNumber string
					Commands     *json.RawMessage
				}
			}
		}
	}
	if err := json.Unmarshal(res.Data, &data); err != nil || data.Devices == nil {
		t.Fatalf("want partial data, got %s (%v), errors %+v", res.Data, err, res.Errors)
	}
	if len(data.Devices.Edges) != 2 {
		t.Fatalf("want 2 devices, got %s", res.Data)
	}
	for _, e := range data.Devices.Edges {
		if !strings.HasPrefix(e.Node.SerialNumber, "S") || e.Node.Commands != nil {
			t.Errorf("want a serial number and commands null, got %+v", e.Node)
		}
	}
	if len(res.Errors) != 2 {
		t.Fatalf("want one error per device, got %+v", res.Errors)
	}
	for _, e := range res.Errors {
		if c := e.Extensions["code"]; c != "FORBIDDEN" {
			t.Errorf("want FORBIDDEN, got %v (%s)", c, e.Message)
		}
		if len(e.Path) != 5 || e.Path[4] != "commands" {
			t.Errorf("want the error at devices.edges.N.node.commands, got path %v", e.Path)
		}
	}
}
