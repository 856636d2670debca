package swupdatesim

import (
	"fmt"
	"time"

	"github.com/orchardmdm/orchard/mdmproto/swupdate"
)

// Sample is a small catalog shaped like Apple's: public and managed iOS and
// macOS releases, a visionOS release and a Background Security Improvement.
// Dates are relative to now so "latest minus N days" has something to find.
func Sample(now time.Time) swupdate.Catalog {
	day := func(n int) string { return now.AddDate(0, 0, n).Format(time.DateOnly) }
	iPhones := []string{"iPhone14,2", "iPhone14,3", "iPhone15,2", "iPhone16,1", "iPad13,18"}
	macs := []string{"J314sAP", "J413AP", "Mac-827FAC58A8FDFA22", "MacBookPro18,3", "VMA2MACOSAP"}
	return swupdate.Catalog{
		PublicAssetSets: swupdate.AssetSets{
			"iOS": {
				{ProductVersion: "18.2.1", Build: "22C161", PostingDate: day(-3), SupportedDevices: iPhones},
				{ProductVersion: "18.2", Build: "22C152", PostingDate: day(-20), ExpirationDate: day(160), SupportedDevices: iPhones},
			},
			"macOS": {
				{ProductVersion: "15.2", Build: "24C101", PostingDate: day(-10), SupportedDevices: macs},
			},
			"visionOS": {
				{ProductVersion: "2.2", Build: "22N842", PostingDate: day(-12), SupportedDevices: []string{"RealityDevice14,1"}},
			},
		},
		AssetSets: swupdate.AssetSets{
			"iOS": {
				{ProductVersion: "18.2.1", Build: "22C161", PostingDate: day(-3), SupportedDevices: iPhones},
				{ProductVersion: "17.7.2", Build: "21H221", PostingDate: day(-30), ExpirationDate: day(150), SupportedDevices: iPhones},
			},
			"macOS": {
				{ProductVersion: "15.2", Build: "24C101", PostingDate: day(-10), SupportedDevices: macs},
				{ProductVersion: "14.7.2", Build: "23H311", PostingDate: day(-10), SupportedDevices: macs},
			},
		},
		PublicBackgroundSecurityImprovements: swupdate.AssetSets{
			"iOS": {
				{ProductVersion: "18.2.1", Build: "22C161050a", ProductVersionExtra: "(a)", PrerequisiteBuild: "22C161",
					PostingDate: day(-1), SupportedDevices: iPhones},
			},
		},
	}
}

// Large is a catalog of Apple's real size and beyond: every platform, perList
// entries per platform in each of the public and managed lists, each with
// devices device ids (the benchmark's load).
func Large(now time.Time, perList, devices int) swupdate.Catalog {
	c := swupdate.Catalog{PublicAssetSets: swupdate.AssetSets{}, AssetSets: swupdate.AssetSets{}}
	for _, platform := range []string{"iOS", "macOS", "visionOS", "tvOS", "watchOS"} {
		ids := make([]string, devices)
		for i := range ids {
			ids[i] = fmt.Sprintf("%sDevice%d,%d", platform, i/10, i%10)
		}
		for i := range perList {
			a := swupdate.Asset{ProductVersion: fmt.Sprintf("%d.%d.%d", 10+i/100, (i/10)%10, i%10),
				Build: fmt.Sprintf("%dA%d", 20+i/100, 100+i), PostingDate: now.AddDate(0, 0, -i).Format(time.DateOnly),
				SupportedDevices: ids}
			c.PublicAssetSets[platform] = append(c.PublicAssetSets[platform], a)
			c.AssetSets[platform] = append(c.AssetSets[platform], a)
		}
	}
	return c
}
