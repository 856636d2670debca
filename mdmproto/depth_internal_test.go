package mdmproto

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

// tokenizerDepth is the deepest nesting encoding/xml's tokenizer reaches
// before its first error, and whether it read the whole body cleanly with
// no directive holding '<' (a document depthWithin must accept when it
// nests no deeper than the limit).
func tokenizerDepth(body []byte) (deepest int, clean bool) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	depth := 0
	clean = true
	for {
		tok, err := dec.RawToken()
		if err != nil {
			return deepest, clean && errors.Is(err, io.EOF)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			deepest = max(deepest, depth)
		case xml.EndElement:
			depth--
		case xml.Directive:
			clean = clean && !bytes.Contains(t, []byte("<"))
		}
	}
}

var depthSeeds = []string{
	`<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd"><plist version="1.0"><dict><key>a</key><array><true/><false/></array></dict></plist>`,
	`<plist><!-- </a></a></a> --><array><array><array><array/></array></array></array></plist>`,
	`<plist><array><string><![CDATA[</a></a><b>]]></string><array><array/></array></array></plist>`,
	`<plist a="/>" b='>'><array x="</y>"><array><array/></array></array></plist>`,
	`<?pi </a></a> ?><plist><array><array><array/></array></array></plist>`,
	`<!DOCTYPE x [ <!ELEMENT a ANY> ]></a></a><a><a><a><a><a></a></a></a></a></a>`,
	`<a><a><a><a><a>`,
	`<a/><a/><a/><a><a><a></a></a></a>`,
	`</a></a></a><a><a><a><a>`,
	`<a <b><c><d><e>`,
	`<!-- unterminated <a><a><a><a>`,
}

// depthWithin never lets through a body the tokenizer (and so the plist
// decoder) would read deeper than the limit, and never refuses a clean
// document within it.
func FuzzDepthWithinCountsLikeTheTokenizer(f *testing.F) {
	for _, s := range depthSeeds {
		f.Add([]byte(s))
	}
	const limit = 3
	f.Fuzz(func(t *testing.T, body []byte) {
		deepest, clean := tokenizerDepth(body)
		err := depthWithin(body, limit)
		if err == nil && deepest > limit {
			t.Fatalf("accepted a body the tokenizer reads %d deep (limit %d): %q", deepest, limit, body)
		}
		if err != nil && clean && deepest <= limit {
			t.Fatalf("refused a clean body %d deep (limit %d): %v: %q", deepest, limit, err, body)
		}
	})
}

func TestDepthWithinRefusesWhatHidesNesting(t *testing.T) {
	for name, body := range map[string]string{
		"deep":                         strings.Repeat("<array>", 5),
		"end tags hidden in a comment": "<a><a><!-- </a></a> --><a><a>",
		"a self-closing look-alike in an attribute": `<a x="/>"><a y='/>'><a><a>`,
		"declarations inside a directive":           `<!DOCTYPE x [ <!ELEMENT a ANY> ]><a/>`,
	} {
		if err := depthWithin([]byte(body), 3); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	for _, s := range depthSeeds[:5] {
		if err := depthWithin([]byte(s), 5); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
}
