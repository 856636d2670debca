package mdmproto

import (
	"bytes"
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

// checkDepth refuses bodies nesting elements deeper than MaxPlistDepth
// before the recursive plist decoder sees them.
func checkDepth(body []byte) error { return depthWithin(body, MaxPlistDepth) }

// depthWithin scans body once, without a tokenizer, counting elements as
// encoding/xml (which the plist decoder reads with) would see them: start
// tags open one (self-closing ones close it again), end tags close one,
// and comments, CDATA sections and processing instructions are skipped to
// their end as encoding/xml skips them. Quoted attribute values may hold
// '>' and "/>". It never counts less than the tokenizer on any input the
// tokenizer reads without error, and where the tokenizer fails the plist
// decoder stops at that point too (FuzzDepthWithinCountsLikeTheTokenizer).
// A directive (<!DOCTYPE ...>) holding '<' is refused: encoding/xml nests
// declarations inside it, which no device sends.
func depthWithin(body []byte, limit int) error {
	depth := 0
	for i := 0; ; {
		lt := bytes.IndexByte(body[i:], '<')
		if lt < 0 || i+lt+1 >= len(body) {
			return nil
		}
		i += lt + 1
		var end int
		switch rest := body[i:]; {
		case rest[0] == '/':
			depth--
			end = bytes.IndexByte(rest, '>')
		case bytes.HasPrefix(rest, []byte("!--")):
			end = skipPast(rest, "-->")
		case bytes.HasPrefix(rest, []byte("![CDATA[")):
			end = skipPast(rest, "]]>")
		case rest[0] == '?':
			end = skipPast(rest, "?>")
		case rest[0] == '!':
			var nested bool
			if end, nested = tagEnd(rest); nested {
				return fmt.Errorf("%w: declarations inside a directive", ErrMalformed)
			}
		default:
			if depth++; depth > limit {
				return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, limit)
			}
			end, _ = tagEnd(rest)
			if end > 0 && rest[end-1] == '/' {
				depth-- // <true/>
			}
		}
		if end < 0 {
			return nil // unterminated: the decoder stops there
		}
		i += end + 1
	}
}

// skipPast returns the index of the last byte of the first terminator in b, or -1.
func skipPast(b []byte, terminator string) int {
	k := bytes.Index(b, []byte(terminator))
	if k < 0 {
		return -1
	}
	return k + len(terminator) - 1
}

// tagEnd returns the index of the '>' ending the tag or directive b begins
// (outside quotes), or -1; nested says an unquoted '<' came first.
func tagEnd(b []byte) (end int, nested bool) {
	var quote byte
	for k, c := range b {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '<':
			nested = true
		case c == '>':
			return k, nested
		}
	}
	return -1, nested
}
