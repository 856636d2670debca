package mdmproto_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/micromdm/plist"

	"github.com/orchardmdm/orchard/mdmproto"
)

// BenchmarkDecodeReport decodes what devices send most (an Idle, a
// DeviceInformation answer) and the largest common answer (2,000 apps).
func BenchmarkDecodeReport(b *testing.B) {
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"Idle", mustPlist(b, map[string]any{"Status": "Idle", "UDID": "00008020-001234567890002E"})},
		{"DeviceInformation", mustPlist(b, map[string]any{"Status": "Acknowledged", "UDID": "00008020-001234567890002E",
			"CommandUUID": "9F5B3A58-7C0B-4C7B-9E0F-0E6E4B1D2C3A", "QueryResponses": map[string]any{
				"DeviceName": "Alice's MacBook Pro", "Model": "Mac14,7", "ModelName": "MacBook Pro", "ProductName": "Mac14,7",
				"OSVersion": "15.1", "BuildVersion": "24B83", "SerialNumber": "C02XK0AAJGH5", "IsAppleSilicon": true,
				"IsSupervised": true, "UDID": "00008020-001234567890002E"}})},
		{"InstalledApplicationList2000", installedApps(2000)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := mdmproto.DecodeReport(c.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustPlist(b *testing.B, v any) []byte {
	body, err := plist.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func installedApps(n int) []byte {
	var apps strings.Builder
	for i := range n {
		fmt.Fprintf(&apps, `<dict><key>Identifier</key><string>com.example.app%d</string><key>Name</key><string>App %d</string>`+
			`<key>Version</key><string>1.%d</string><key>ShortVersion</key><string>1.%d</string><key>BundleSize</key><integer>%d</integer></dict>`,
			i, i, i, i, 1000*i)
	}
	return []byte(`<plist version="1.0"><dict><key>Status</key><string>Acknowledged</string><key>UDID</key><string>00008020-001234567890002E</string>` +
		`<key>CommandUUID</key><string>C1</string><key>InstalledApplicationList</key><array>` + apps.String() + `</array></dict></plist>`)
}
