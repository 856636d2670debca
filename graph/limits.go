package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"

	"github.com/orchardmdm/orchard/graph/auth"
)

// Why this file exists: gqlgen parses and validates a document before any
// resolver, and so before @hasPermission, runs; and gqlparser's
// OverlappingFieldsCanBeMerged compares every pair of fields sharing a
// response name, so its work and its error list grow with the square of
// their count. One anonymous 55 KB document of repeated aliases cost 26 s of
// CPU, 3.8 GB of memory and a 480 MB answer. So every document is first
// measured by a lexer-only scan, linear in its length and allocating nothing
// per token, and refused before parsing when it is larger than its caller may
// send. Callers without a token can do nothing but be refused, so their
// bounds are much tighter.

// DocumentLimits bound one request's document and variables.
type DocumentLimits struct {
	// RequestBytes bounds the HTTP body (uploads excepted).
	RequestBytes int
	// Bytes bounds the query text.
	Bytes int
	// Tokens counts lexical tokens (punctuation, names, values).
	Tokens int
	// Fields counts selections: fields and fragment spreads.
	Fields int
	// Aliases counts renamed fields: each may run its resolver again.
	Aliases int
	// VariableValues counts the JSON values in the variables, at any depth.
	VariableValues int
}

// Limits bound what one operation may ask for.
type Limits struct {
	// Complexity counts fields, lists weighted by their page size.
	Complexity int
	// Depth counts nested selections; GraphiQL's introspection query needs 13.
	Depth int
	// Document applies to callers with a token, Anonymous to the others.
	Document  DocumentLimits
	Anonymous DocumentLimits
	// Errors bounds the errors of one response; the rest are summed up in one.
	Errors int
	// ResponseBytes bounds the data of one response.
	ResponseBytes int
	// CallerDBConcurrency bounds the resolvers of one API token running at
	// once, DBConcurrency those of every caller: one caller cannot take the
	// whole database pool from the others and from /healthz.
	CallerDBConcurrency int
	DBConcurrency       int
}

// DefaultLimits allow a full page of devices with every field, GraphiQL's
// introspection without a token, and no more.
func DefaultLimits() Limits {
	return Limits{
		Complexity: 25000, Depth: 15,
		Document: DocumentLimits{RequestBytes: 2 << 20, Bytes: 64 << 10, Tokens: 20000,
			Fields: 2000, Aliases: 200, VariableValues: 10000},
		Anonymous: DocumentLimits{RequestBytes: 16 << 10, Bytes: 8 << 10, Tokens: 2000,
			Fields: 200, Aliases: 10, VariableValues: 100},
		Errors: 50, ResponseBytes: 16 << 20,
		CallerDBConcurrency: 4, DBConcurrency: 16,
	}
}

// withDefaults fills the bounds left at zero with DefaultLimits'.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	orDefault(&l.Complexity, d.Complexity)
	orDefault(&l.Depth, d.Depth)
	orDefault(&l.Errors, d.Errors)
	orDefault(&l.ResponseBytes, d.ResponseBytes)
	orDefault(&l.CallerDBConcurrency, d.CallerDBConcurrency)
	orDefault(&l.DBConcurrency, d.DBConcurrency)
	for _, p := range []struct{ got, def *DocumentLimits }{{&l.Document, &d.Document}, {&l.Anonymous, &d.Anonymous}} {
		orDefault(&p.got.RequestBytes, p.def.RequestBytes)
		orDefault(&p.got.Bytes, p.def.Bytes)
		orDefault(&p.got.Tokens, p.def.Tokens)
		orDefault(&p.got.Fields, p.def.Fields)
		orDefault(&p.got.Aliases, p.def.Aliases)
		orDefault(&p.got.VariableValues, p.def.VariableValues)
	}
	return l
}

func orDefault(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

// maxNesting bounds braces, brackets and parentheses inside one another,
// so the recursive parser's depth stays small whatever the document.
const maxNesting = 64

// forCaller picks the bounds of the request's caller.
func (l Limits) forCaller(ctx context.Context) (DocumentLimits, bool) {
	if auth.FromContext(ctx) == nil {
		return l.Anonymous, true
	}
	return l.Document, false
}

// documentLimit refuses oversized documents and variables before gqlgen
// parses them, on every transport (POST, GET, multipart, websocket).
type documentLimit struct{ limits Limits }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = documentLimit{}

func (documentLimit) ExtensionName() string                   { return "DocumentLimit" }
func (documentLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (d documentLimit) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	lim, anonymous := d.limits.forCaller(ctx)
	what, limit := scanDocument(params.Query, lim)
	if what == "" && countValues(params.Variables, lim.VariableValues+1) > lim.VariableValues {
		what, limit = "variable values", lim.VariableValues
	}
	if what == "" {
		return nil
	}
	msg := fmt.Sprintf("the document has more %s than the limit of %d", what, limit)
	if anonymous {
		msg += " for requests without a token"
	}
	err := gqlerror.Errorf("%s", msg)
	errcode.Set(err, errcode.ValidationFailed)
	err.Extensions["limit"] = what
	return err
}

// scanDocument names the first bound the query text exceeds ("" for none)
// and its limit. Selections and aliases are told apart from arguments by
// where they stand: inside braces and outside parentheses. A lexical error
// stops the scan: the parser stops at the same place and reports it.
func scanDocument(query string, lim DocumentLimits) (string, int) {
	if len(query) > lim.Bytes {
		return "bytes", lim.Bytes
	}
	lx := lexer.New(&ast.Source{Input: query})
	var tokens, fields, aliases, braces, parens, nesting int
	prev := lexer.Invalid
	for {
		tok, err := lx.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			return "", 0
		}
		if tok.Kind == lexer.Comment {
			continue
		}
		if tokens++; tokens > lim.Tokens {
			return "tokens", lim.Tokens
		}
		inSelection := braces > 0 && parens == 0
		switch tok.Kind {
		case lexer.BraceL, lexer.BracketL, lexer.ParenL:
			braces, parens = braces+b2i(tok.Kind == lexer.BraceL), parens+b2i(tok.Kind == lexer.ParenL)
			if nesting++; nesting > maxNesting {
				return "levels of nesting", maxNesting
			}
		case lexer.BraceR, lexer.BracketR, lexer.ParenR:
			braces, parens = braces-b2i(tok.Kind == lexer.BraceR), parens-b2i(tok.Kind == lexer.ParenR)
			nesting--
		case lexer.Colon:
			if aliases += b2i(inSelection); aliases > lim.Aliases {
				return "aliases", lim.Aliases
			}
		case lexer.Name:
			// A directive's name selects nothing; an aliased field was
			// counted at its alias.
			if fields += b2i(inSelection && prev != lexer.At && prev != lexer.Colon); fields > lim.Fields {
				return "fields", lim.Fields
			}
		}
		prev = tok.Kind
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// countValues counts v's JSON values, stopping once it reaches stop.
func countValues(v any, stop int) int {
	n := 1
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if n >= stop {
				break
			}
			n += countValues(e, stop-n)
		}
	case []any:
		for _, e := range v {
			if n >= stop {
				break
			}
			n += countValues(e, stop-n)
		}
	}
	return n
}
