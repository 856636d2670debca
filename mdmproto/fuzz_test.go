package mdmproto_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/orchardmdm/orchard/mdmproto"
)

// Seeds: one of each message a device sends, plus shapes that once tripped decoders.
var fuzzSeeds = []string{
	`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>MessageType</key><string>Authenticate</string><key>UDID</key><string>00008020-001234567890002E</string><key>SerialNumber</key><string>C02X</string><key>ProductName</key><string>Mac14,3</string><key>Topic</key><string>com.apple.mgmt.x</string></dict></plist>`,
	`<plist version="1.0"><dict><key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>00008020-001234567890002E</string><key>Token</key><data>AAEC</data><key>PushMagic</key><string>m</string><key>UnlockToken</key><data>AwQ=</data><key>AwaitingConfiguration</key><true/></dict></plist>`,
	`<plist version="1.0"><dict><key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>00008020-001234567890002E</string><key>UserID</key><string>A1B2C3D4-0000-4000-8000-00000000A1B2</string><key>UserLongName</key><string>Ada</string></dict></plist>`,
	`<plist version="1.0"><dict><key>MessageType</key><string>CheckOut</string><key>EnrollmentID</key><string>E1a2b3c4d5</string></dict></plist>`,
	`<plist version="1.0"><dict><key>MessageType</key><string>SetBootstrapToken</string><key>UDID</key><string>00008020-001234567890002E</string><key>BootstrapToken</key><data>Ym9vdA==</data></dict></plist>`,
	`<plist version="1.0"><dict><key>MessageType</key><string>DeclarativeManagement</string><key>UDID</key><string>00008020-001234567890002E</string><key>Endpoint</key><string>tokens</string><key>Data</key><data>e30=</data></dict></plist>`,
	`<plist version="1.0"><dict><key>Status</key><string>Idle</string><key>UDID</key><string>00008020-001234567890002E</string></dict></plist>`,
	`<plist version="1.0"><dict><key>Status</key><string>Acknowledged</string><key>UDID</key><string>00008020-001234567890002E</string><key>CommandUUID</key><string>C1</string><key>QueryResponses</key><dict><key>DeviceName</key><string>Mac</string><key>IsAppleSilicon</key><true/><key>OSVersion</key><string>14.4</string></dict></dict></plist>`,
	`<plist version="1.0"><dict><key>Status</key><string>Error</string><key>UDID</key><string>00008020-001234567890002E</string><key>CommandUUID</key><string>C1</string><key>ErrorChain</key><array><dict><key>ErrorCode</key><integer>12021</integer><key>ErrorDomain</key><string>MCMDMErrorDomain</string><key>LocalizedDescription</key><string>x</string></dict></array></dict></plist>`,
	`<plist version="1.0"><dict><key>Status</key><string>Acknowledged</string><key>UDID</key><string>00008020-001234567890002E</string><key>CommandUUID</key><string>C1</string><key>SecurityInfo</key><dict><key>FDE_Enabled</key><true/><key>Value</key><real>nan</real><key>When</key><date>2024-01-02T03:04:05Z</date></dict></dict></plist>`,
	`<plist version="1.0"><dict><key>Status</key><string>NotNow</string><key>UDID</key><string>00008020-001234567890002E:x</string></dict></plist>`,
	"bplist00\xd1\x01\x02VStatusTIdle\x08\x0b\x12\x00\x00\x00\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17",
	`<plist><array><dict><key>a</key><array><array><array/></array></array></dict></array></plist>`,
	``,
	`<plist version="1.0"><dict><key>MessageType</key><integer>1</integer></dict></plist>`,
}

// FuzzDecode feeds check-in and report decoding arbitrary bodies: they must
// never panic, and what they accept must be well formed.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if m, err := mdmproto.DecodeCheckin(body); err == nil {
			if m.MessageType == "" || m.DeviceID() == "" {
				t.Fatalf("accepted a check-in without type or device: %+v", m)
			}
			_ = m.Facts()
		}
		if r, out, err := mdmproto.DecodeReport(body); err == nil {
			if r.DeviceID() == "" || (r.Status != mdmproto.StatusIdle && r.CommandUUID == "") {
				t.Fatalf("accepted a report without device or command: %+v", r)
			}
			if !json.Valid(out) {
				t.Fatalf("DecodeReport made invalid JSON: %s", out)
			}
			// Its JSON is read with segmentio/encoding: encoding/json must read the same report.
			var std mdmproto.Report
			if err := json.Unmarshal(out, &std); err != nil || !reflect.DeepEqual(std, *r) {
				t.Fatalf("encoding/json reads %s as %+v (%v), DecodeReport as %+v", out, std, err, *r)
			}
			for _, rt := range []string{"DeviceInformation", "SecurityInfo"} {
				_, _ = mdmproto.FactsFromResult(rt, out)
			}
		}
	})
}
