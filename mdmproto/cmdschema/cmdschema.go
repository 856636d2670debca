// Package cmdschema checks the payload of an MDM command against Apple's
// device-management schema (mdm/commands/*.yaml) and turns JSON values into
// the plist types the schema names: {"$data": "<base64>"} into <data>, whole
// numbers into <integer>, RFC 3339 strings into <date>.
//
// The key table (schema_gen.go) is generated from a local checkout of
// github.com/apple/device-management by ./internal/gen and committed.
package cmdschema

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Type is a plist type as Apple's schema names it.
type Type uint8

// The schema's types.
const (
	Any Type = iota
	String
	Integer
	Real
	Boolean
	Data
	Date
	Array
	Dictionary
)

var typeNames = [...]string{"any", "string", "integer", "real", "boolean", "data", "date", "array", "dictionary"}

func (t Type) String() string { return typeNames[t] }

// AnyKey names the key of a dictionary whose keys are free (Apple's "ANY ...").
const AnyKey = "*"

// Key is one payload key: its type, presence, allowed values and, for a
// dictionary, its keys (for an array, its element: one Key, or several
// alternatives told apart by their values, as Settings' items are).
type Key struct {
	Name     string
	Type     Type
	Required bool
	Range    []any
	Sub      []Key
}

// DataKey is how a JSON payload gives binary: {"$data": "<base64>"}.
const DataKey = "$data"

// maxDepth bounds nesting of free-form values (configurations, manifests).
const maxDepth = 32

// Known reports whether the table has this request type.
func Known(requestType string) bool {
	_, ok := commands[requestType]
	return ok
}

// Keys returns the payload keys of a request type (nil when unknown).
func Keys(requestType string) []Key { return commands[requestType] }

// Convert checks payload (as decoded from JSON) against requestType's keys and
// returns it with plist-ready values. Unknown keys, missing required keys,
// wrong types and values outside a range list are errors naming the key.
func Convert(requestType string, payload map[string]any) (map[string]any, error) {
	keys, ok := commands[requestType]
	if !ok {
		return nil, fmt.Errorf("no schema for request type %q", requestType)
	}
	if payload == nil {
		payload = map[string]any{}
	}
	out, err := convertDict(requestType, keys, payload, 0)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

func convertDict(path string, keys []Key, v any, depth int) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, typeErr(path, Dictionary, v)
	}
	if len(keys) == 0 {
		return free(path, m, depth)
	}
	if len(keys) == 1 && keys[0].Name == AnyKey {
		return convertEach(path, keys[0], m, depth)
	}
	out := make(map[string]any, len(m))
	for _, name := range sortedKeys(m) {
		i := slices.IndexFunc(keys, func(k Key) bool { return k.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("%s: unknown key %q (known: %s)", path, name, knownNames(keys))
		}
		c, err := convert(path+"."+name, keys[i], m[name], depth+1)
		if err != nil {
			return nil, err
		}
		out[name] = c
	}
	for _, k := range keys {
		if _, ok := m[k.Name]; k.Required && !ok {
			return nil, fmt.Errorf("%s: required key %s missing", path, k.Name)
		}
	}
	return out, nil
}

func convertEach(path string, k Key, m map[string]any, depth int) (any, error) {
	out := make(map[string]any, len(m))
	for _, name := range sortedKeys(m) {
		c, err := convert(path+"."+name, k, m[name], depth+1)
		if err != nil {
			return nil, err
		}
		out[name] = c
	}
	return out, nil
}

func convertArray(path string, k Key, v any, depth int) (any, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, typeErr(path, Array, v)
	}
	out := make([]any, len(list))
	for i, e := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		var err error
		switch len(k.Sub) {
		case 0:
			out[i], err = generic(p, e, depth+1)
		case 1:
			out[i], err = convert(p, k.Sub[0], e, depth+1)
		default:
			out[i], err = alternative(p, k.Sub, e, depth+1)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// alternative converts an element that may be any of several shapes (a
// Settings item is told apart by its Item value): the first that fits wins.
func alternative(path string, alts []Key, v any, depth int) (any, error) {
	for _, a := range alts {
		if out, err := convert(path, a, v, depth); err == nil {
			return out, nil
		}
	}
	names := make([]string, len(alts))
	for i, a := range alts {
		names[i] = a.Name
	}
	return nil, fmt.Errorf("%s: matches none of the allowed shapes (%s)", path, strings.Join(names, ", "))
}

func convert(path string, k Key, v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%s: nested deeper than %d", path, maxDepth)
	}
	var out any
	var err error
	switch k.Type {
	case Dictionary:
		return convertDict(path, k.Sub, v, depth)
	case Array:
		return convertArray(path, k, v, depth)
	case Any:
		return generic(path, v, depth)
	case String:
		s, ok := v.(string)
		out, err = s, okOr(ok, path, k.Type, v)
	case Boolean:
		b, ok := v.(bool)
		out, err = b, okOr(ok, path, k.Type, v)
	case Integer:
		out, err = integer(path, v)
	case Real:
		out, err = toReal(path, v)
	case Data:
		out, err = data(path, v)
	case Date:
		out, err = date(path, v)
	}
	if err != nil {
		return nil, err
	}
	if len(k.Range) > 0 && !slices.Contains(k.Range, out) {
		return nil, fmt.Errorf("%s: %v is not one of %v", path, out, k.Range)
	}
	return out, nil
}

func okOr(ok bool, path string, t Type, v any) error {
	if ok {
		return nil
	}
	return typeErr(path, t, v)
}

func typeErr(path string, want Type, v any) error {
	hint := ""
	if want == Data {
		hint = ` (give binary as {"$data": "<base64>"})`
	}
	return fmt.Errorf("%s: want %s, got %s%s", path, want, jsonKind(v), hint)
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64, json.Number, int, int64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func integer(path string, v any) (any, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
	}
	return nil, typeErr(path, Integer, v)
}

func toReal(path string, v any) (any, error) {
	switch x := v.(type) {
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f, nil
		}
	}
	return nil, typeErr(path, Real, v)
}

func data(path string, v any) (any, error) {
	switch x := v.(type) {
	case []byte:
		return x, nil
	case map[string]any:
		if b, ok, err := dataObject(x); ok {
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return b, nil
		}
	}
	return nil, typeErr(path, Data, v)
}

// dataObject decodes {"$data": "<base64>"}; ok is false for other objects.
func dataObject(m map[string]any) (b []byte, ok bool, err error) {
	raw, has := m[DataKey]
	if !has || len(m) != 1 {
		return nil, false, nil
	}
	s, isString := raw.(string)
	if !isString {
		return nil, true, fmt.Errorf("%s must be a base64 string", DataKey)
	}
	b, err = base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, true, fmt.Errorf("%s is not standard base64: %v", DataKey, err)
	}
	return b, true, nil
}

func date(path string, v any) (any, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		t, err := time.Parse(time.RFC3339, x)
		if err != nil {
			return nil, fmt.Errorf("%s: want an RFC 3339 date: %v", path, err)
		}
		return t.UTC(), nil
	}
	return nil, typeErr(path, Date, v)
}

// generic converts a value the schema leaves free: whole numbers become
// integers and {"$data": ...} becomes data, at any depth.
func generic(path string, v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%s: nested deeper than %d", path, maxDepth)
	}
	switch x := v.(type) {
	case map[string]any:
		if b, ok, err := dataObject(x); ok {
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return b, nil
		}
		return free(path, x, depth)
	case []any:
		return convertArray(path, Key{Type: Array}, x, depth)
	case float64, json.Number:
		if n, err := integer(path, x); err == nil {
			return n, nil
		}
		return toReal(path, x)
	case nil:
		return nil, fmt.Errorf("%s: null has no plist form", path)
	}
	return v, nil
}

func free(path string, m map[string]any, depth int) (any, error) {
	out := make(map[string]any, len(m))
	for k, e := range m {
		c, err := generic(path+"."+k, e, depth+1)
		if err != nil {
			return nil, err
		}
		out[k] = c
	}
	return out, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func knownNames(keys []Key) string {
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		names = append(names, k.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
