package service

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/orchardmdm/orchard/mdmproto/dep"
)

func TestDEPProfileChecks(t *testing.T) {
	valid := func() dep.Profile {
		return dep.Profile{ProfileName: " Main ", IsSupervised: true, IsMDMRemovable: true}
	}
	for _, tc := range []struct {
		name   string
		change func(p *dep.Profile)
		want   string // "" accepted
	}{
		{"valid", func(*dep.Profile) {}, ""},
		{"blank name", func(p *dep.Profile) { p.ProfileName = "   " }, "name"},
		{"long name", func(p *dep.Profile) { p.ProfileName = strings.Repeat("n", 256) }, "name"},
		{"anchor not base64", func(p *dep.Profile) { p.AnchorCerts = []string{"%%%"} }, "anchorCerts[0]"},
		{"anchor not a certificate", func(p *dep.Profile) {
			p.AnchorCerts = []string{base64.StdEncoding.EncodeToString([]byte("hello"))}
		}, "anchorCerts[0]"},
		{"host cert not DER", func(p *dep.Profile) { p.SupervisingHostCerts = []string{"-----BEGIN"} }, "supervisingHostCerts[0]"},
		{"unremovable but unsupervised", func(p *dep.Profile) { p.IsSupervised, p.IsMDMRemovable = false, false }, "isSupervised"},
	} {
		p := valid()
		tc.change(&p)
		err := checkDEPProfile(&p)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (!IsKind(err, Invalid) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want a refusal naming %q", tc.name, err, tc.want)
		}
		if tc.want == "" && p.ProfileName != "Main" {
			t.Errorf("%s: name %q not trimmed", tc.name, p.ProfileName)
		}
	}
}

func TestSerialListsAreBounded(t *testing.T) {
	for _, tc := range []struct {
		serials []string
		ok      bool
	}{
		{nil, false},
		{[]string{"C02X"}, true},
		{[]string{"C02X", ""}, false},
		{make([]string, dep.MaxPage+1), false},
	} {
		if err := CheckSerials(tc.serials); (err == nil) != tc.ok {
			t.Errorf("%d serials: %v, want ok=%v", len(tc.serials), err, tc.ok)
		}
	}
}
