package mdmproto_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/orchardmdm/orchard/mdmproto"
)

// BenchmarkDecodeReport decodes an InstalledApplicationList answer of 2,000
// apps (about 500 KB), the kind of report a fleet's inventory sends.
func BenchmarkDecodeReport(b *testing.B) {
	var apps strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&apps, `<dict><key>Identifier</key><string>com.example.app%d</string><key>Name</key><string>App %d</string>`+
			`<key>Version</key><string>1.%d</string><key>ShortVersion</key><string>1.%d</string><key>BundleSize</key><integer>%d</integer></dict>`,
			i, i, i, i, 1000*i)
	}
	body := []byte(`<plist version="1.0"><dict><key>Status</key><string>Acknowledged</string><key>UDID</key><string>00008020-001234567890002E</string>` +
		`<key>CommandUUID</key><string>C1</string><key>InstalledApplicationList</key><array>` + apps.String() + `</array></dict></plist>`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, err := mdmproto.DecodeReport(body); err != nil {
			b.Fatal(err)
		}
	}
}
