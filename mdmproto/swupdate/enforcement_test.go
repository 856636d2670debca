package swupdate_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/swupdate"
)

func TestEnforcementDeclaration(t *testing.T) {
	at := time.Date(2026, 2, 1, 9, 30, 0, 0, time.FixedZone("elsewhere", 5*3600))
	d, err := swupdate.EnforcementDeclaration("orchard.swupdate.1.iOS",
		swupdate.Target{OSVersion: "18.2.1", BuildVersion: "22C161", LocalDateTime: at, DetailsURL: "https://example.com/u"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Type, Identifier, ServerToken string
		Payload                       map[string]string
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"TargetOSVersion": "18.2.1", "TargetBuildVersion": "22C161",
		"TargetLocalDateTime": "2026-02-01T09:30:00", "DetailsURL": "https://example.com/u"}
	if got.Type != "com.apple.configuration.softwareupdate.enforcement.specific" || got.Identifier != "orchard.swupdate.1.iOS" ||
		got.ServerToken == "" || len(got.Payload) != len(want) {
		t.Fatalf("declaration %s", raw)
	}
	for k, v := range want {
		if got.Payload[k] != v {
			t.Errorf("%s = %q, want %q", k, got.Payload[k], v)
		}
	}
	// A changed target changes the token, so devices apply it; the same target keeps it.
	same, _ := swupdate.EnforcementDeclaration("orchard.swupdate.1.iOS",
		swupdate.Target{OSVersion: "18.2.1", BuildVersion: "22C161", LocalDateTime: at, DetailsURL: "https://example.com/u"})
	other, _ := swupdate.EnforcementDeclaration("orchard.swupdate.1.iOS", swupdate.Target{OSVersion: "18.3", LocalDateTime: at})
	if same.ServerToken != d.ServerToken || other.ServerToken == d.ServerToken {
		t.Errorf("server tokens %s %s %s", d.ServerToken, same.ServerToken, other.ServerToken)
	}
	if _, ok := other.Payload["TargetBuildVersion"]; ok {
		t.Error("empty build version sent")
	}
	if _, err := swupdate.EnforcementDeclaration("x", swupdate.Target{OSVersion: "18.2"}); err == nil {
		t.Error("declaration without a date-time accepted")
	}
}
