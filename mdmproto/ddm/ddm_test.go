package ddm

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestItemsAndTokens(t *testing.T) {
	a := NewDeclaration("com.apple.activation.simple", "act", map[string]any{"StandardConfigurations": []string{"cfg"}})
	c := NewDeclaration("com.apple.configuration.legacy", "cfg", map[string]any{"ProfileURL": "https://x/1"})
	items := Items([]Declaration{c, a})
	if len(items.Declarations.Activations) != 1 || items.Declarations.Configurations[0].ServerToken != c.ServerToken ||
		items.Declarations.Assets == nil {
		t.Fatalf("items = %+v", items)
	}
	c2 := NewDeclaration("com.apple.configuration.legacy", "cfg", map[string]any{"ProfileURL": "https://x/2"})
	if c2.ServerToken == c.ServerToken || Items([]Declaration{a, c2}).DeclarationsToken == items.DeclarationsToken {
		t.Fatal("a changed declaration must change its token and the declarations token")
	}
	if Items([]Declaration{a, c}).DeclarationsToken != items.DeclarationsToken {
		t.Fatal("the declarations token must not depend on order")
	}
}

func TestParseEndpoint(t *testing.T) {
	r, err := ParseEndpoint("declaration/configuration/orchard.legacy.com.example")
	if err != nil || r.Kind != KindConfiguration || r.Identifier != "orchard.legacy.com.example" {
		t.Fatalf("parse = %+v, %v", r, err)
	}
	for _, bad := range []string{"", "declaration/", "declaration/configuration/", "declaration/other/x", "foo"} {
		if _, err := ParseEndpoint(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParseStatusReport(t *testing.T) {
	report := map[string]any{"StatusItems": map[string]any{"management": map[string]any{"declarations": map[string]any{
		"configurations": []any{map[string]any{"identifier": "cfg", "server-token": "t", "active": false, "valid": "invalid",
			"reasons": []any{map[string]any{"code": "Error.ConfigurationCannotBeApplied"}}}},
		"activations": []any{map[string]any{"identifier": "act", "server-token": "u", "active": true, "valid": "valid"}},
	}}}, "Errors": []any{}, "FullReport": true}
	b, _ := json.Marshal(report)
	r, err := ParseStatusReport(b)
	if err != nil || !r.Reported || !r.FullReport || len(r.Declarations) != 2 {
		t.Fatalf("report = %+v, %v", r, err)
	}
	for name, bad := range map[string]string{
		"not JSON":        "{",
		"no status items": `{"Errors": []}`,
		"bad valid":       `{"StatusItems": {"management": {"declarations": {"activations": [{"identifier": "a", "valid": "maybe"}]}}}}`,
		"no identifier":   `{"StatusItems": {"management": {"declarations": {"activations": [{"valid": "valid"}]}}}}`,
		"wrong shape":     `{"StatusItems": {"management": {"declarations": {"activations": "x"}}}}`,
		"too large":       strings.Repeat(" ", MaxStatusReport+1),
	} {
		if _, err := ParseStatusReport([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
