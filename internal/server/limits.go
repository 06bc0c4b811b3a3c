package server

import (
	"context"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// DocumentLimits bound the size and shape of a GraphQL document. They are checked on the
// parsed document before gqlgen validates it or computes its complexity: validation
// compares every pair of fields in a selection set, and gqlgen's complexity walk expands
// fragment spreads without remembering them, so a small hostile document could otherwise
// hold a CPU for seconds. A zero or negative limit is not checked.
//
// Fields, aliases, directives and depth are counted with fragment spreads expanded, each
// fragment measured once, so the check stays linear in the document's size however the
// fragments nest.
type DocumentLimits struct {
	// Tokens caps the lexical tokens of the document; the parser stops at the limit.
	Tokens int
	// Depth caps how deep fields nest; { viewer { username } } has depth 2. __schema and
	// __type do not count: gqlparser bounds introspection depth itself.
	Depth int
	// Fields caps the fields of one operation or fragment, fragments expanded.
	Fields int
	// Aliases caps the aliased fields of one operation or fragment, fragments expanded.
	Aliases int
	// Directives caps the directives of one operation or fragment, fragments expanded.
	Directives int
	// AuthFields caps how many of AuthFieldNames one mutation may select, so that
	// aliases cannot try many passwords under one request's rate limit.
	AuthFields int
}

// AuthFieldNames are the mutations that check a secret or hand out tokens.
var AuthFieldNames = []string{"signIn", "signUp", "refreshSession", "exchangeLoginCode"}

// Check measures every operation and fragment of doc and refuses the first that exceeds
// a limit, with a coded error. It also refuses a fragment that spreads itself, which
// validation would refuse anyway, because the measure must not loop on it.
func (l DocumentLimits) Check(doc *ast.QueryDocument) *gqlerror.Error {
	m := meter{doc: doc, fragments: make(map[string]*measure, len(doc.Fragments))}
	for _, op := range doc.Operations {
		var c measure
		c.directives = len(op.Directives)
		if err := m.selectionSet(op.SelectionSet, &c); err != nil {
			return err
		}
		// Before the other limits, so that fifty aliased signIns are told the rule
		// they break rather than the alias limit.
		if op.Operation == ast.Mutation && l.AuthFields > 0 {
			if n := m.rootFields(op.SelectionSet, authFields, map[string]int{}); n > l.AuthFields {
				return limitError(codeTooManyAuthFields, "a request may select at most "+
					strconv.Itoa(l.AuthFields)+" of "+strings.Join(AuthFieldNames, ", "))
			}
		}
		if err := l.exceeded(c, "operation"); err != nil {
			return err
		}
	}
	for _, f := range doc.Fragments {
		c, err := m.fragment(f.Name)
		if err != nil {
			return err
		}
		// Depth is an operation's: a fragment's own depth may sit under __schema, which
		// is not counted.
		c.depth = 0
		if err := l.exceeded(c, "fragment "+f.Name); err != nil {
			return err
		}
	}
	return nil
}

func (l DocumentLimits) exceeded(c measure, what string) *gqlerror.Error {
	for _, lim := range []struct {
		got, limit int
		code, noun string
	}{
		{c.depth, l.Depth, codeTooComplex, "depth"},
		{c.fields, l.Fields, codeTooManyFields, "fields"},
		{c.aliases, l.Aliases, codeTooManyAliases, "aliases"},
		{c.directives, l.Directives, codeTooManyDirectives, "directives"},
	} {
		if lim.limit > 0 && lim.got > lim.limit {
			got := strconv.Itoa(lim.got)
			if lim.got >= saturated {
				got = "more than " + strconv.Itoa(saturated)
			}
			msg := what + " has " + got + " " + lim.noun + " (fragments expanded)"
			if lim.noun == "depth" {
				msg = what + " has depth " + got
			}
			return limitError(lim.code, msg+", over the limit of "+strconv.Itoa(lim.limit))
		}
	}
	return nil
}

// saturated is where counts stop growing: fragments that each spread the next twice
// double at every level, and the counts must not overflow.
const saturated = 1 << 30

func add(a, b int) int { return min(a+b, saturated) }

// measure is what a selection set costs with its fragments expanded.
type measure struct {
	fields, aliases, directives, depth int
}

func (m *measure) add(o measure) {
	m.fields = add(m.fields, o.fields)
	m.aliases = add(m.aliases, o.aliases)
	m.directives = add(m.directives, o.directives)
	m.depth = max(m.depth, o.depth)
}

// meter remembers each fragment's measure; a nil entry marks a fragment being measured,
// so meeting it again is a cycle.
type meter struct {
	doc       *ast.QueryDocument
	fragments map[string]*measure
}

func (m *meter) selectionSet(set ast.SelectionSet, into *measure) *gqlerror.Error {
	for _, sel := range set {
		var c measure
		switch sel := sel.(type) {
		case *ast.Field:
			c.fields = 1
			c.directives = len(sel.Directives)
			if sel.Alias != "" && sel.Alias != sel.Name {
				c.aliases = 1
			}
			var child measure
			if err := m.selectionSet(sel.SelectionSet, &child); err != nil {
				return err
			}
			c.add(child)
			c.depth = child.depth + 1
			if sel.Name == "__schema" || sel.Name == "__type" {
				c.depth = 0
			}
		case *ast.InlineFragment:
			c.directives = len(sel.Directives)
			if err := m.selectionSet(sel.SelectionSet, &c); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			f, err := m.fragment(sel.Name)
			if err != nil {
				return err
			}
			c = f
			c.directives = add(c.directives, len(sel.Directives))
		}
		into.add(c)
	}
	return nil
}

// fragment measures a named fragment once. An unknown fragment measures nothing:
// validation reports it.
func (m *meter) fragment(name string) (measure, *gqlerror.Error) {
	if c, ok := m.fragments[name]; ok {
		if c == nil {
			return measure{}, &gqlerror.Error{
				Message:    "fragment " + name + " spreads itself",
				Extensions: map[string]any{"code": codeValidationFailed},
			}
		}
		return *c, nil
	}
	def := m.doc.Fragments.ForName(name)
	if def == nil {
		return measure{}, nil
	}
	m.fragments[name] = nil
	c := measure{directives: len(def.Directives)}
	if err := m.selectionSet(def.SelectionSet, &c); err != nil {
		return measure{}, err
	}
	m.fragments[name] = &c
	return c, nil
}

// rootFields counts the fields of set, through fragments, whose names match, each
// fragment's count remembered in memo. Measuring has already refused cycles.
func (m *meter) rootFields(set ast.SelectionSet, match func(string) bool, memo map[string]int) int {
	n := 0
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if match(sel.Name) {
				n = add(n, 1)
			}
		case *ast.InlineFragment:
			n = add(n, m.rootFields(sel.SelectionSet, match, memo))
		case *ast.FragmentSpread:
			c, ok := memo[sel.Name]
			if def := m.doc.Fragments.ForName(sel.Name); !ok && def != nil {
				c = m.rootFields(def.SelectionSet, match, memo)
				memo[sel.Name] = c
			}
			n = add(n, c)
		}
	}
	return n
}

func authFields(name string) bool {
	for _, n := range AuthFieldNames {
		if n == name {
			return true
		}
	}
	return false
}

func limitError(code, msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
}

// documentLimits is the gqlgen extension that applies DocumentLimits. It runs as an
// operation parameter mutator, the last hook before gqlgen parses and validates, so it
// parses the document itself, with the token limit. A document in gqlgen's query cache
// has passed before and is not parsed again.
type documentLimits struct {
	limits DocumentLimits
	cache  graphql.Cache[*ast.QueryDocument]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = documentLimits{}

func (documentLimits) ExtensionName() string                   { return "DocumentLimits" }
func (documentLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (d documentLimits) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	if params.Query == "" {
		return nil
	}
	if d.cache != nil {
		if _, ok := d.cache.Get(ctx, params.Query); ok {
			return nil
		}
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: params.Query}, max(d.limits.Tokens, 0))
	if err != nil {
		// gqlparser reports both limits only by message; a test pins them.
		switch msg := err.Error(); {
		case strings.Contains(msg, "exceeded token limit"):
			return limitError(codeTooManyTokens, "document has more than "+
				strconv.Itoa(d.limits.Tokens)+" tokens, the limit")
		case strings.Contains(msg, "exceeded maximum nesting depth"):
			return limitError(codeTooComplex, "document nests deeper than "+
				strconv.Itoa(parser.MaxNestingDepth)+" levels")
		}
		// Any other syntax error is gqlgen's to report, with its locations.
		return nil
	}
	return d.limits.Check(doc)
}

// errorLimit keeps at most max errors in a response: the first max-1, then one saying
// how many more were dropped. A response listing thousands of errors costs the server
// to build and the client to read, and tells nothing the first few do not.
type errorLimit struct {
	max int
}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = errorLimit{}

func (errorLimit) ExtensionName() string                   { return "ErrorLimit" }
func (errorLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (e errorLimit) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || e.max < 2 || len(resp.Errors) <= e.max {
		return resp
	}
	dropped := len(resp.Errors) - (e.max - 1)
	resp.Errors = append(resp.Errors[:e.max-1:e.max-1], limitError(codeTooManyErrors,
		strconv.Itoa(dropped)+" more errors were dropped; at most "+strconv.Itoa(e.max)+" are reported"))
	return resp
}
