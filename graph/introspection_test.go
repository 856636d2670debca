package graph_test

import (
	"strings"
	"testing"

	"github.com/orchardmdm/orchard/graph"
)

// TestIntrospectionCanBeTurnedOff refuses __schema and __type to every
// caller, with a token or not, with FORBIDDEN saying why, once NoIntrospection is set; __typename, which
// clients use to read unions, keeps working, and so do ordinary queries.
func TestIntrospectionCanBeTurnedOff(t *testing.T) {
	api := startTestAPIWith(t, nil, nil, func(c *graph.HandlerConfig) { c.NoIntrospection = true })
	admin := api.token("mdm.*")
	for _, tok := range []string{"", admin} {
		for _, q := range []string{`{ __schema { queryType { name } } }`, `{ __type(name: "Device") { name } }`} {
			res := api.query(tok, q, nil)
			if res.code() != "FORBIDDEN" || !strings.Contains(res.Errors[0].Message, "introspection is turned off") {
				t.Errorf("token %t, %s: want FORBIDDEN saying introspection is off, got data %s, errors %+v", tok != "", q, res.Data, res.Errors)
			}
			if strings.Contains(string(res.Data), "Query") || strings.Contains(string(res.Data), `"Device"`) {
				t.Errorf("token %t, %s: schema leaked: %s", tok != "", q, res.Data)
			}
		}
	}
	var out struct {
		Typename string `json:"__typename"`
		Devices  struct{ TotalCount int }
	}
	api.query(admin, `{ __typename devices { totalCount } }`, nil).decode(t, &out)
	if out.Typename != "Query" {
		t.Errorf("__typename = %q, want Query", out.Typename)
	}
}

// TestIntrospectionIsOnByDefault answers __schema without a token when the
// handler is not told otherwise (GraphiQL needs it).
func TestIntrospectionIsOnByDefault(t *testing.T) {
	api := newTestAPI(t)
	var out struct {
		Schema struct{ QueryType struct{ Name string } } `json:"__schema"`
	}
	api.query("", `{ __schema { queryType { name } } }`, nil).decode(t, &out)
	if out.Schema.QueryType.Name != "Query" {
		t.Errorf("__schema.queryType.name = %q, want Query", out.Schema.QueryType.Name)
	}
}
