package mdmproto

import "testing"

func TestCommandTemplateBuildsDistinctCommands(t *testing.T) {
	tmpl, err := NewCommandTemplate("InstallProfile", map[string]any{"Payload": []byte("<plist/>")})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 3 {
		uuid, body := tmpl.Build()
		var c Command
		if err := UnmarshalPlist(body, &c); err != nil {
			t.Fatal(err)
		}
		if c.CommandUUID != uuid || seen[uuid] || string(c.Command["Payload"].([]byte)) != "<plist/>" {
			t.Fatalf("built %s: %+v", uuid, c)
		}
		seen[uuid] = true
	}
}
