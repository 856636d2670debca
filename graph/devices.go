package graph

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/store"
)

const deviceCursor = "device"

func (r *Resolver) listDevices(ctx context.Context, filter *model.DeviceFilter, first *int, after *string) (*model.DeviceConnection, error) {
	p, err := page(deviceCursor, first, after)
	if err != nil {
		return nil, err
	}
	f, err := deviceFilter(filter)
	if err != nil {
		return nil, err
	}
	inc := deviceIncludes(ctx)
	devices, more, err := r.Store.ListDevicesWith(ctx, f, p, inc)
	if err != nil {
		return nil, err
	}
	r.loadersFrom(ctx).primeDevices(devices, inc)
	conn := &model.DeviceConnection{Filter: f}
	conn.Edges, conn.PageInfo = edges(deviceCursor, devices, more, func(n *store.ListedDevice) int64 { return n.ID },
		func(cursor string, n *store.ListedDevice) *model.DeviceEdge {
			return &model.DeviceEdge{Cursor: cursor, Node: &n.Device}
		})
	return conn, nil
}

// deviceIncludes reads what the page's nodes ask for, so the page statement
// reads their blueprint and user channels too instead of two more statements.
func deviceIncludes(ctx context.Context) store.DeviceIncludes {
	fields := nodeFields(ctx, "Device")
	return store.DeviceIncludes{Blueprint: fields["blueprint"], Users: fields["users"],
		SoftwareUpdateStatus: fields["softwareUpdateStatus"], DeclarationStatus: fields["declarationStatus"]}
}

// nodeFields names the fields a connection field's query asks of its nodes,
// under edges { node { ... } }, fragments and @skip/@include applied.
func nodeFields(ctx context.Context, nodeType string) map[string]bool {
	out := map[string]bool{}
	fc, op := graphql.GetFieldContext(ctx), graphql.GetOperationContext(ctx)
	if fc == nil || op == nil {
		return out
	}
	for _, edges := range graphql.CollectFields(op, fc.Field.Selections, nil) {
		if edges.Name != "edges" {
			continue
		}
		for _, node := range graphql.CollectFields(op, edges.Selections, nil) {
			if node.Name != "node" {
				continue
			}
			for _, f := range graphql.CollectFields(op, node.Selections, []string{nodeType}) {
				out[f.Name] = true
			}
		}
	}
	return out
}

// maxFilterText bounds each text of a device filter: no serial number,
// UDID or name is longer, and a search's cost grows with its length.
const maxFilterText = 256

// minSearchRun is the shortest run of letters or digits a search needs: the
// trigram index finds rows only from runs of three, and a search without
// one would read every device.
const minSearchRun = 3

func deviceFilter(in *model.DeviceFilter) (store.DeviceFilter, error) {
	var f store.DeviceFilter
	if in == nil {
		return f, nil
	}
	f.SerialNumber = deref(in.SerialNumber)
	f.UDID = deref(in.Udid)
	f.Platform = deref(in.Platform)
	f.Search = deref(in.Search)
	f.Blocked = in.Blocked
	if err := checkFilterTexts(map[string]string{"serialNumber": f.SerialNumber, "udid": f.UDID,
		"platform": f.Platform, "search": f.Search}); err != nil {
		return f, err
	}
	if f.Search != "" && longestAlnumRun(f.Search) < minSearchRun {
		return f, BadInput("filter.search needs %d letters or digits (A-Z, 0-9) in a row", minSearchRun)
	}
	return f, nil
}

// checkFilterTexts refuses a filter text (by field name) that is longer
// than maxFilterText or holds NUL, which PostgreSQL cannot take as text.
func checkFilterTexts(texts map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(texts)) {
		if text := texts[name]; utf8.RuneCountInString(text) > maxFilterText || strings.ContainsRune(text, 0) {
			return BadInput("filter.%s must be at most %d characters, without NUL", name, maxFilterText)
		}
	}
	return nil
}

// longestAlnumRun is the length of s's longest run of ASCII letters and
// digits. Only ASCII counts: in a database whose character type is C (as
// orchard's own), the trigram index takes no other character as part of a word.
func longestAlnumRun(s string) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

func (r *Resolver) device(ctx context.Context, id string) (*store.Device, error) {
	n, err := parseID("device", id)
	if err != nil {
		return nil, err
	}
	d, err := r.Store.Device(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func (r *Resolver) setBlocked(ctx context.Context, id string, blocked bool) (*store.Device, error) {
	n, err := parseID("device", id)
	if err != nil {
		return nil, err
	}
	d, err := r.Service.SetDeviceBlocked(ctx, auth.FromContext(ctx).Actor(), n, blocked)
	return &d, err
}

func (r *Resolver) revealSecret(ctx context.Context, d *store.Device, column string) (*string, error) {
	plain, err := r.Service.RevealDeviceSecret(ctx, auth.FromContext(ctx).Actor(), d, column)
	if err != nil || plain == nil {
		return nil, err
	}
	s := string(plain)
	return &s, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (r *Resolver) deleteDevice(ctx context.Context, id string) (string, error) {
	n, err := parseID("device", id)
	if err != nil {
		return "", err
	}
	return id, r.Service.DeleteDevice(ctx, auth.FromContext(ctx).Actor(), n)
}
