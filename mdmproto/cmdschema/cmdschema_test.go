package cmdschema

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/orchardmdm/orchard/mdmproto"
)

func TestConvertRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, requestType string
		payload           map[string]any
		want              string
	}{
		{"unknown key", "DeviceInformation", map[string]any{"Queries": []any{"UDID"}, "Bogus": 1.0}, `unknown key "Bogus"`},
		{"query not a string", "DeviceInformation", map[string]any{"Queries": []any{1.0}}, "want string"},
		{"payload as string", "InstallProfile", map[string]any{"Payload": "PD94bWw="}, `{"$data"`},
		{"payload missing", "InstallProfile", nil, "required key Payload missing"},
		{"bad base64", "InstallProfile", map[string]any{"Payload": map[string]any{"$data": "!!"}}, "not standard base64"},
		{"identifier as number", "RemoveProfile", map[string]any{"Identifier": 3.0}, "want string"},
		{"fraction for integer", "InstallApplication", map[string]any{"iTunesStoreID": 1.5}, "want integer"},
		{"out of range", "EraseDevice", map[string]any{"ObliterationBehavior": "Sometimes"}, "is not one of"},
		{"boolean as string", "CertificateList", map[string]any{"ManagedOnly": "yes"}, "want boolean"},
		{"settings item unknown", "Settings", map[string]any{"Settings": []any{map[string]any{"Item": "Frobnicate"}}}, "matches none"},
		{"no schema", "Frobnicate", nil, "no schema"},
		{"deep free value", "InstallApplication", map[string]any{"Configuration": nest(40)}, "nested deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Convert(tc.requestType, tc.payload)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Convert = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func nest(n int) map[string]any {
	m := map[string]any{"leaf": true}
	for range n {
		m = map[string]any{"k": m}
	}
	return m
}

func TestConvertTypes(t *testing.T) {
	got, err := Convert("InstallProfile", map[string]any{"Payload": map[string]any{"$data": "PHBsaXN0Lz4="}})
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := got["Payload"].([]byte); !ok || string(b) != "<plist/>" {
		t.Fatalf("Payload = %#v, want []byte", got["Payload"])
	}
	got, err = Convert("Settings", map[string]any{"Settings": []any{
		map[string]any{"Item": "Wallpaper", "Image": map[string]any{"$data": "AAE="}, "Where": 3.0},
		map[string]any{"Item": "DataRoaming", "Enabled": true}}})
	if err != nil {
		t.Fatal(err)
	}
	wall := got["Settings"].([]any)[0].(map[string]any)
	if _, ok := wall["Where"].(int64); !ok || !bytes.Equal(wall["Image"].([]byte), []byte{0, 1}) {
		t.Fatalf("wallpaper = %#v", wall)
	}
	got, err = Convert("ScheduleOSUpdate", map[string]any{"Updates": []any{map[string]any{"ProductKey": "x", "InstallAction": "Default"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("no payload")
	}
	cfg, err := Convert("InstallApplication", map[string]any{"iTunesStoreID": 12.0, "Configuration": map[string]any{"n": 2.0, "r": 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg["Configuration"].(map[string]any); c["n"] != int64(2) || c["r"] != 0.5 {
		t.Fatalf("free configuration = %#v", c)
	}
}

func TestConvertDate(t *testing.T) {
	k := Key{Name: "When", Type: Date}
	v, err := convert("x", k, "2026-01-02T03:04:05Z", 0)
	if err != nil || !v.(time.Time).Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("date = %v, %v", v, err)
	}
}

// Every request type orchard queues has Apple's schema, except the names
// Apple's repository does not list.
func TestEveryKnownRequestTypeHasSchema(t *testing.T) {
	missing := map[string]bool{"RestrictionsList": true, "SetupConfiguration": true}
	for _, rt := range mdmproto.KnownRequestTypes {
		if !Known(rt) && !missing[rt] {
			t.Errorf("%s has no schema: regenerate schema_gen.go", rt)
		}
	}
}
