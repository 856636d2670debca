package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// depthLimit refuses operations nested deeper than max, and operations whose
// fields, with every fragment spread expanded, outnumber ten times the
// caller's field limit. Both are measured before anything else walks the
// operation: gqlgen's complexity count expands every spread, and a fragment
// spreading the next one twice, 40 levels down, is 2^40 fields from a
// document of 2 KB.
type depthLimit struct {
	max    int
	limits Limits
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

// expansion is how many times more fields an operation may have with its
// fragments expanded than its document may hold as written.
const expansion = 10

func (d depthLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	lim, _ := d.limits.forCaller(ctx)
	m := shapeMeter{doc: oc.Doc, fragments: map[string]shape{}, most: lim.Fields * expansion}
	s := m.measure(oc.Operation.SelectionSet)
	if s.fields > m.most {
		err := gqlerror.Errorf("%s", fmt.Sprintf("the operation has more than %d fields once its fragments are expanded", m.most))
		errcode.Set(err, errcode.ValidationFailed)
		err.Extensions["limit"] = "expanded fields"
		return err
	}
	if s.depth > d.max {
		err := gqlerror.Errorf("operation is nested %d levels deep; the limit is %d", s.depth, d.max)
		err.Extensions = map[string]any{"code": "BAD_USER_INPUT"}
		return err
	}
	return nil
}

// shape is a selection set's depth (fields only: fragments add no depth of
// their own) and its field count with fragments expanded.
type shape struct{ depth, fields int }

// shapeMeter measures each fragment once; counts stop just past most.
type shapeMeter struct {
	doc       *ast.QueryDocument
	fragments map[string]shape
	most      int
}

func (m shapeMeter) measure(set ast.SelectionSet) shape {
	var total shape
	for _, sel := range set {
		var s shape
		switch sel := sel.(type) {
		case *ast.Field:
			s = m.measure(sel.SelectionSet)
			s.depth, s.fields = s.depth+1, s.fields+1
		case *ast.InlineFragment:
			s = m.measure(sel.SelectionSet)
		case *ast.FragmentSpread:
			s = m.fragment(sel.Name)
		}
		total.depth = max(total.depth, s.depth)
		total.fields = min(total.fields+s.fields, m.most+1)
	}
	return total
}

// fragment is a named fragment's shape. Validation has already refused
// fragment cycles; the entry made before the walk guards the rest.
func (m shapeMeter) fragment(name string) shape {
	if s, ok := m.fragments[name]; ok {
		return s
	}
	m.fragments[name] = shape{}
	var s shape
	if f := m.doc.Fragments.ForName(name); f != nil {
		s = m.measure(f.SelectionSet)
	}
	m.fragments[name] = s
	return s
}
