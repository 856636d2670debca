package mdmproto

import (
	"bytes"
	"encoding/xml"
	"fmt"

	"github.com/micromdm/plist"
)

// MaxPlistDepth bounds array/dict nesting: the decoder recurses per level,
// and no MDM message nests deeper than a dozen.
const MaxPlistDepth = 64

// UnmarshalPlist decodes an XML plist from a device. Binary plists are
// refused: devices send XML, and the binary decoder panics or recurses
// forever on crafted object references. Any decoder panic becomes ErrMalformed.
func UnmarshalPlist(body []byte, v any) (err error) {
	if err := checkDepth(body); err != nil {
		return err
	}
	if bytes.HasPrefix(body, []byte("bplist")) {
		return fmt.Errorf("%w: binary plists are not accepted", ErrMalformed)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: plist decoder failed: %v", ErrMalformed, r)
		}
	}()
	if err := plist.NewXMLDecoder(bytes.NewReader(body)).Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// checkDepth refuses bodies nesting elements deeper than MaxPlistDepth,
// counted with encoding/xml's iterative tokenizer before the recursive
// plist decoder sees them.
func checkDepth(body []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(body))
	depth := 0
	for {
		tok, err := dec.RawToken()
		if err != nil {
			// Syntax errors are the plist decoder's to report.
			return nil
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			if depth > MaxPlistDepth {
				return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxPlistDepth)
			}
		case xml.EndElement:
			depth--
		}
	}
}
