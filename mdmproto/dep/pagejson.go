package dep

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// UnmarshalJSON reads a fetch or sync answer without reflection. A full
// fetch is a hundred pages of 1,000 devices, and encoding/json spent most of
// the client's time on them matching field names and types one device at a
// time. The result is encoding/json's for the same input (FuzzDevicePageJSON
// holds it to that): unknown keys are skipped, null leaves a field as it is,
// names match exactly or, failing that, without regard to case; anything
// that is not JSON, or a field of the wrong type, is an error.
func (p *DevicePage) UnmarshalJSON(data []byte) error {
	s := &jsonScanner{data: data}
	s.space()
	if s.literal("null") {
		return s.end()
	}
	err := s.fields(func(key []byte) error {
		switch fieldNamed(pageFields, key) {
		case "devices":
			return s.devices(&p.Devices)
		case "cursor":
			return s.str(&p.Cursor)
		case "more_to_follow":
			return s.boolean(&p.MoreToFollow)
		case "fetched_until":
			return s.time(&p.FetchedUntil)
		}
		return s.skip()
	})
	if err != nil {
		return fmt.Errorf("dep device page: %w", err)
	}
	return s.end()
}

var (
	pageFields   = []string{"devices", "cursor", "more_to_follow", "fetched_until"}
	deviceFields = []string{"serial_number", "model", "description", "color", "asset_tag", "os", "device_family",
		"profile_status", "profile_uuid", "profile_assign_time", "profile_push_time", "device_assigned_date",
		"device_assigned_by", "op_type", "op_date", "response_status"}
)

// fieldNamed is the field key names: the same name, or else one that
// differs only in case, as encoding/json matches.
func fieldNamed(fields []string, key []byte) string {
	for _, f := range fields {
		if string(key) == f {
			return f
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f, string(key)) {
			return f
		}
	}
	return ""
}

// devices reads the devices array, reusing the slice's room; null empties it.
func (s *jsonScanner) devices(out *[]Device) error {
	if s.literal("null") {
		*out = nil
		return nil
	}
	list := (*out)[:0]
	if list == nil {
		list = []Device{}
	}
	// No closure per device: this loop runs 100,000 times in a full fetch.
	for n := 0; ; n++ {
		more, err := s.nextElement(n)
		if err != nil || !more {
			*out = list
			return err
		}
		list = append(list, Device{})
		if !s.literal("null") {
			if err := s.device(&list[len(list)-1]); err != nil {
				*out = list
				return err
			}
		}
	}
}

func (s *jsonScanner) device(d *Device) error {
	for n := 0; ; n++ {
		key, more, err := s.nextKey(n)
		if err != nil || !more {
			return err
		}
		if err := s.deviceValue(d, fieldNamed(deviceFields, key)); err != nil {
			return err
		}
	}
}

// deviceValue reads the value of a device's field name.
func (s *jsonScanner) deviceValue(d *Device, name string) error {
	if t := d.timeField(name); t != nil {
		return s.time(t)
	}
	if name == "serial_number" {
		return s.str(&d.SerialNumber)
	}
	if v := d.stringField(name); v != nil {
		return s.sharedString(v)
	}
	return s.skip()
}

func (d *Device) stringField(name string) *string {
	switch name {
	case "serial_number":
		return &d.SerialNumber
	case "model":
		return &d.Model
	case "description":
		return &d.Description
	case "color":
		return &d.Color
	case "asset_tag":
		return &d.AssetTag
	case "os":
		return &d.OS
	case "device_family":
		return &d.DeviceFamily
	case "profile_status":
		return &d.ProfileStatus
	case "profile_uuid":
		return &d.ProfileUUID
	case "device_assigned_by":
		return &d.DeviceAssignedBy
	case "op_type":
		return &d.OpType
	case "response_status":
		return &d.ResponseStatus
	}
	return nil
}

func (d *Device) timeField(name string) **time.Time {
	switch name {
	case "profile_assign_time":
		return &d.ProfileAssignTime
	case "profile_push_time":
		return &d.ProfilePushTime
	case "device_assigned_date":
		return &d.DeviceAssignedDate
	case "op_date":
		return &d.OpDate
	}
	return nil
}

// jsonScanner walks one JSON document.
type jsonScanner struct {
	data []byte
	i    int
	// shared holds the strings many devices of a page repeat.
	shared map[string]string
}

// maxShared bounds the strings a page keeps one copy of.
const maxShared = 512

var errJSONSyntax = errors.New("malformed JSON")

func (s *jsonScanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end checks that nothing but space follows the document.
func (s *jsonScanner) end() error {
	s.space()
	if s.i != len(s.data) {
		return fmt.Errorf("dep device page: %w: data after the document", errJSONSyntax)
	}
	return nil
}

// literal consumes word (null, true, false) and the space after it, if next.
func (s *jsonScanner) literal(word string) bool {
	if len(s.data)-s.i < len(word) || string(s.data[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	s.space()
	return true
}

// token consumes the byte c and the space after it, if next.
func (s *jsonScanner) token(c byte) bool {
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		s.space()
		return true
	}
	return false
}

// nextKey reads the n-th key of an object (n from 0) and the ':' after it;
// more is false once the object has ended. The key is unescaped, and only
// valid until the next call.
func (s *jsonScanner) nextKey(n int) (key []byte, more bool, err error) {
	if more, err = s.next(n, '{', '}'); !more || err != nil {
		return nil, more, err
	}
	raw, plain, err := s.stringToken()
	if err != nil {
		return nil, false, err
	}
	key = raw[1 : len(raw)-1]
	if !plain {
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, false, err
		}
		key = []byte(text)
	}
	if !s.token(':') {
		return nil, false, fmt.Errorf("%w: ':' was expected at byte %d", errJSONSyntax, s.i)
	}
	return key, true, nil
}

// nextElement moves to the n-th value of an array (n from 0); more is false
// once the array has ended.
func (s *jsonScanner) nextElement(n int) (bool, error) {
	return s.next(n, '[', ']')
}

// next passes the opening byte (n = 0) or the ',' before the n-th member,
// or finds the closing byte.
func (s *jsonScanner) next(n int, open, closing byte) (bool, error) {
	if n == 0 && !s.token(open) {
		return false, fmt.Errorf("%w: %q was expected at byte %d", errJSONSyntax, open, s.i)
	}
	if s.token(closing) {
		return false, nil
	}
	if n > 0 && !s.token(',') {
		return false, fmt.Errorf("%w: ',' or %q was expected at byte %d", errJSONSyntax, closing, s.i)
	}
	return true, nil
}

// fields calls field for each key of an object, to read its value; for the
// page's few keys, where a closure costs nothing that matters.
func (s *jsonScanner) fields(field func(key []byte) error) error {
	for n := 0; ; n++ {
		key, more, err := s.nextKey(n)
		if err != nil || !more {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
	}
}

// str reads a string into v; null leaves v as it is.
func (s *jsonScanner) str(v *string) error {
	if s.literal("null") {
		return nil
	}
	return s.rawString(v)
}

// rawString reads a string. Plain ASCII without escapes, all of a DEP
// answer in practice, is copied as it is; anything else is handed to
// encoding/json, so escapes and invalid UTF-8 read exactly as there.
func (s *jsonScanner) rawString(v *string) error {
	raw, plain, err := s.stringToken()
	switch {
	case err != nil:
		return err
	case plain:
		*v = string(raw[1 : len(raw)-1])
		return nil
	}
	return json.Unmarshal(raw, v)
}

// sharedString reads a string that many devices of a page repeat (model,
// colour, OS, profile): one copy per page instead of one per device.
func (s *jsonScanner) sharedString(v *string) error {
	if s.literal("null") {
		return nil
	}
	raw, plain, err := s.stringToken()
	switch {
	case err != nil:
		return err
	case !plain:
		return json.Unmarshal(raw, v)
	}
	text := raw[1 : len(raw)-1]
	if known, ok := s.shared[string(text)]; ok {
		*v = known
		return nil
	}
	*v = string(text)
	if s.shared == nil {
		s.shared = make(map[string]string)
	}
	if len(s.shared) < maxShared {
		s.shared[*v] = *v
	}
	return nil
}

// stringToken passes over a string and the space after it, returning it
// with its quotes, and whether it is printable ASCII without escapes.
func (s *jsonScanner) stringToken() (raw []byte, plain bool, err error) {
	start := s.i
	if s.i >= len(s.data) || s.data[s.i] != '"' {
		return nil, false, fmt.Errorf("%w: a string was expected at byte %d", errJSONSyntax, s.i)
	}
	plain = true
	for s.i++; s.i < len(s.data); s.i++ {
		switch c := s.data[s.i]; {
		case c == '"':
			s.i++
			raw = s.data[start:s.i]
			s.space()
			return raw, plain, nil
		case c == '\\':
			plain = false
			s.i++ // the escaped byte cannot end the string
		case c < 0x20:
			return nil, false, fmt.Errorf("%w: control character in a string at byte %d", errJSONSyntax, s.i)
		case c >= 0x80:
			plain = false
		}
	}
	return nil, false, fmt.Errorf("%w: unterminated string", errJSONSyntax)
}

// boolean reads true or false into v; null leaves v as it is.
func (s *jsonScanner) boolean(v *bool) error {
	switch {
	case s.literal("null"):
	case s.literal("true"):
		*v = true
	case s.literal("false"):
		*v = false
	default:
		return fmt.Errorf("%w: a boolean was expected at byte %d", errJSONSyntax, s.i)
	}
	return nil
}

// time reads an RFC 3339 string with time.Time's own UnmarshalJSON; null
// sets v to nil, as encoding/json does to a pointer.
func (s *jsonScanner) time(v **time.Time) error {
	if s.literal("null") {
		*v = nil
		return nil
	}
	raw, plain, err := s.stringToken()
	if err != nil {
		return err
	}
	if !plain && !json.Valid(raw) {
		return fmt.Errorf("%w: a string that is not JSON", errJSONSyntax)
	}
	t := new(time.Time)
	if err := t.UnmarshalJSON(raw); err != nil {
		return err
	}
	*v = t
	return nil
}

// skip passes over a value of a key orchard does not read, checking it is JSON.
func (s *jsonScanner) skip() error {
	start, depth := s.i, 0
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case '"':
			if _, _, err := s.stringToken(); err != nil {
				return err
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return s.valid(start)
			}
			depth--
		case ',':
			if depth == 0 {
				return s.valid(start)
			}
		}
		s.i++
	}
	return s.valid(start)
}

func (s *jsonScanner) valid(start int) error {
	if !json.Valid(s.data[start:s.i]) {
		return fmt.Errorf("%w: a value that is not JSON at byte %d", errJSONSyntax, start)
	}
	s.space()
	return nil
}
