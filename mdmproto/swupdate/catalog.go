// Package swupdate is a client of Apple's Software Lookup Service (the gdmf
// "pmv" catalog at https://gdmf.apple.com/v2/pmv): which OS releases Apple
// publishes, for which hardware, until when they are signed.
package swupdate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"time"
)

// The catalog's lists, as Apple names them.
const (
	// ListPublic is what anyone gets when they update or upgrade.
	ListPublic = "PublicAssetSets"
	// ListManaged is what device management may push to devices.
	ListManaged = "AssetSets"
	// ListBackgroundSecurity are Background Security Improvements.
	ListBackgroundSecurity = "PublicBackgroundSecurityImprovements"
	// ListRapidSecurity is the older name of Background Security Improvements.
	ListRapidSecurity = "PublicRapidSecurityResponses"
)

// Bounds on what one catalog may hold; Apple's has ~100 entries of ~200
// devices, so these leave ample room and still stop a runaway answer.
const (
	MaxEntries          = 20000
	MaxDevicesPerEntry  = 5000
	maxPlatformsPerList = 64
)

// Asset is one release in a list, in Apple's shape. Unknown keys are ignored.
type Asset struct {
	ProductVersion string `json:"ProductVersion"`
	Build          string `json:"Build"`
	// PostingDate and ExpirationDate are YYYY-MM-DD; no expiration date means
	// the release is still signed.
	PostingDate      string   `json:"PostingDate"`
	ExpirationDate   string   `json:"ExpirationDate,omitempty"`
	SupportedDevices []string `json:"SupportedDevices"`
	// ProductVersionExtra ("(a)") and PrerequisiteBuild (the build it applies
	// to) are set on Background Security Improvements.
	ProductVersionExtra string `json:"ProductVersionExtra,omitempty"`
	PrerequisiteBuild   string `json:"PrerequisiteBuild,omitempty"`
}

// AssetSets are a list's assets keyed by platform: iOS (with iPadOS, tvOS and
// watchOS), macOS, visionOS, and whatever Apple adds.
type AssetSets map[string][]Asset

// Catalog is the whole answer of /v2/pmv.
type Catalog struct {
	PublicAssetSets                      AssetSets `json:"PublicAssetSets,omitempty"`
	AssetSets                            AssetSets `json:"AssetSets,omitempty"`
	PublicBackgroundSecurityImprovements AssetSets `json:"PublicBackgroundSecurityImprovements,omitempty"`
	PublicRapidSecurityResponses         AssetSets `json:"PublicRapidSecurityResponses,omitempty"`
}

// Entry is one release flattened out of its list, checked and normalised.
type Entry struct {
	Platform       string
	ProductVersion string
	Build          string
	// Public: from a public list (PublicAssetSets or a security list); false
	// for AssetSets, the releases only device management may push.
	Public bool
	// Extra and PrerequisiteBuild are set for Background Security Improvements.
	Extra             string
	PrerequisiteBuild string
	PostingDate       time.Time
	ExpirationDate    *time.Time
	// SupportedDevices are sorted, without repeats.
	SupportedDevices []string
}

// Key identifies an entry: the same release in a public and a managed list
// are two entries.
type Key struct {
	Platform, ProductVersion, Build string
	Public                          bool
}

// Key of the entry.
func (e Entry) Key() Key {
	return Key{Platform: e.Platform, ProductVersion: e.ProductVersion, Build: e.Build, Public: e.Public}
}

// Parse reads a catalog: a body that is not one JSON object (truncated,
// trailing bytes, wrong types) or holds an entry that is not a release is an
// error, so a bad answer never replaces a good catalog.
func Parse(body []byte) (*Catalog, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var c Catalog
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("software update catalog: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("software update catalog: unexpected data after the JSON object")
	}
	if c.PublicAssetSets == nil && c.AssetSets == nil {
		return nil, errors.New("software update catalog: neither PublicAssetSets nor AssetSets present")
	}
	return &c, nil
}

// Entries flattens the catalog, checks every entry and merges repeats (the
// same release listed twice, as both security lists may do).
func (c *Catalog) Entries() ([]Entry, error) {
	byKey := map[Key]int{}
	var out []Entry
	for _, l := range []struct {
		name   string
		sets   AssetSets
		public bool
	}{{ListPublic, c.PublicAssetSets, true}, {ListManaged, c.AssetSets, false},
		{ListBackgroundSecurity, c.PublicBackgroundSecurityImprovements, true},
		{ListRapidSecurity, c.PublicRapidSecurityResponses, true}} {
		if len(l.sets) > maxPlatformsPerList {
			return nil, fmt.Errorf("%s: %d platforms, at most %d", l.name, len(l.sets), maxPlatformsPerList)
		}
		for _, platform := range sortedKeys(l.sets) {
			for i, a := range l.sets[platform] {
				e, err := entryOf(platform, l.public, a)
				if err != nil {
					return nil, fmt.Errorf("%s.%s[%d]: %w", l.name, platform, i, err)
				}
				if at, seen := byKey[e.Key()]; seen {
					out[at] = merge(out[at], e)
					continue
				}
				if len(out) == MaxEntries {
					return nil, fmt.Errorf("more than %d entries", MaxEntries)
				}
				byKey[e.Key()] = len(out)
				out = append(out, e)
			}
		}
	}
	return out, nil
}

var (
	platformPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,31}$`)
	versionPattern  = regexp.MustCompile(`^[0-9]{1,4}(\.[0-9]{1,4}){0,3}$`)
	buildPattern    = regexp.MustCompile(`^[0-9A-Za-z]{1,32}$`)
	extraPattern    = regexp.MustCompile(`^\([a-z0-9]{1,8}\)$|^[a-z0-9]{1,8}$`)
	devicePattern   = regexp.MustCompile(`^[\x21-\x7e]{1,64}$`)
)

func entryOf(platform string, public bool, a Asset) (Entry, error) {
	e := Entry{Platform: platform, ProductVersion: a.ProductVersion, Build: a.Build, Public: public,
		Extra: a.ProductVersionExtra, PrerequisiteBuild: a.PrerequisiteBuild}
	switch {
	case !platformPattern.MatchString(platform):
		return e, fmt.Errorf("platform %q is not a platform name", platform)
	case !versionPattern.MatchString(a.ProductVersion):
		return e, fmt.Errorf("ProductVersion %q is not a version", a.ProductVersion)
	case !buildPattern.MatchString(a.Build):
		return e, fmt.Errorf("Build %q is not a build", a.Build)
	case a.ProductVersionExtra != "" && !extraPattern.MatchString(a.ProductVersionExtra):
		return e, fmt.Errorf("ProductVersionExtra %q is not a supplemental version", a.ProductVersionExtra)
	case a.PrerequisiteBuild != "" && !buildPattern.MatchString(a.PrerequisiteBuild):
		return e, fmt.Errorf("PrerequisiteBuild %q is not a build", a.PrerequisiteBuild)
	case len(a.SupportedDevices) > MaxDevicesPerEntry:
		return e, fmt.Errorf("%d supported devices, at most %d", len(a.SupportedDevices), MaxDevicesPerEntry)
	}
	var err error
	if e.PostingDate, err = time.Parse(time.DateOnly, a.PostingDate); err != nil {
		return e, fmt.Errorf("PostingDate %q is not a date", a.PostingDate)
	}
	if a.ExpirationDate != "" {
		exp, err := time.Parse(time.DateOnly, a.ExpirationDate)
		if err != nil {
			return e, fmt.Errorf("ExpirationDate %q is not a date", a.ExpirationDate)
		}
		e.ExpirationDate = &exp
	}
	for _, d := range a.SupportedDevices {
		if !devicePattern.MatchString(d) {
			return e, fmt.Errorf("supported device %q is not a device id", d)
		}
	}
	e.SupportedDevices = sortedUnique(a.SupportedDevices)
	return e, nil
}

// merge joins the device lists of one release listed twice; the first
// listing's dates stand.
func merge(a, b Entry) Entry {
	a.SupportedDevices = sortedUnique(append(slices.Clone(a.SupportedDevices), b.SupportedDevices...))
	return a
}

func sortedUnique(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func sortedKeys(m AssetSets) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
