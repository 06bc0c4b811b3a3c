// Package schemaguard keeps the GraphQL contract from breaking its clients: it compares
// schema.graphql with the last released schema (released.graphql in this folder) and
// fails on any breaking change not listed in intended.txt, and it validates every
// operation the project's clients and benchmarks send against schema.graphql. Its tests
// run those checks, so `make test` is the gate.
package schemaguard

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// Severity says what a change does to existing clients.
type Severity int

const (
	// Safe changes cannot break a valid operation or its reading of a response.
	Safe Severity = iota
	// Dangerous changes keep every operation valid but may surprise a client, e.g. an
	// enum value or union member it has never seen.
	Dangerous
	// Breaking changes make valid operations invalid, or responses unreadable.
	Breaking
)

func (s Severity) String() string {
	switch s {
	case Safe:
		return "safe"
	case Dangerous:
		return "dangerous"
	default:
		return "breaking"
	}
}

// Kind names a kind of change. Together with the path of what changed it is the
// identifier intended.txt lists.
type Kind string

// Breaking kinds.
const (
	TypeRemoved                Kind = "TYPE_REMOVED"
	TypeKindChanged            Kind = "TYPE_KIND_CHANGED"
	FieldRemoved               Kind = "FIELD_REMOVED"
	FieldTypeChanged           Kind = "FIELD_TYPE_CHANGED"
	ArgRemoved                 Kind = "ARG_REMOVED"
	ArgTypeChanged             Kind = "ARG_TYPE_CHANGED"
	RequiredArgAdded           Kind = "REQUIRED_ARG_ADDED"
	ArgDefaultChanged          Kind = "ARG_DEFAULT_CHANGED"
	InputFieldRemoved          Kind = "INPUT_FIELD_REMOVED"
	InputFieldTypeChanged      Kind = "INPUT_FIELD_TYPE_CHANGED"
	RequiredInputFieldAdded    Kind = "REQUIRED_INPUT_FIELD_ADDED"
	InputFieldDefaultChanged   Kind = "INPUT_FIELD_DEFAULT_CHANGED"
	OneOfAdded                 Kind = "ONE_OF_ADDED"
	EnumValueRemoved           Kind = "ENUM_VALUE_REMOVED"
	UnionMemberRemoved         Kind = "UNION_MEMBER_REMOVED"
	InterfaceRemoved           Kind = "INTERFACE_REMOVED"
	RootTypeChanged            Kind = "ROOT_TYPE_CHANGED"
	DirectiveRemoved           Kind = "DIRECTIVE_REMOVED"
	DirectiveArgRemoved        Kind = "DIRECTIVE_ARG_REMOVED"
	DirectiveArgTypeChanged    Kind = "DIRECTIVE_ARG_TYPE_CHANGED"
	DirectiveArgDefaultChanged Kind = "DIRECTIVE_ARG_DEFAULT_CHANGED"
	RequiredDirectiveArgAdded  Kind = "REQUIRED_DIRECTIVE_ARG_ADDED"
	DirectiveLocationRemoved   Kind = "DIRECTIVE_LOCATION_REMOVED"
	DirectiveRepeatableRemoved Kind = "DIRECTIVE_REPEATABLE_REMOVED"
)

// Dangerous kinds.
const (
	EnumValueAdded          Kind = "ENUM_VALUE_ADDED"
	UnionMemberAdded        Kind = "UNION_MEMBER_ADDED"
	InterfaceAdded          Kind = "INTERFACE_ADDED"
	OptionalArgAdded        Kind = "OPTIONAL_ARG_ADDED"
	ArgDefaultAdded         Kind = "ARG_DEFAULT_ADDED"
	OptionalInputFieldAdded Kind = "OPTIONAL_INPUT_FIELD_ADDED"
	InputFieldDefaultAdded  Kind = "INPUT_FIELD_DEFAULT_ADDED"
)

// Safe kinds.
const (
	TypeAdded                 Kind = "TYPE_ADDED"
	FieldAdded                Kind = "FIELD_ADDED"
	FieldTypeTightened        Kind = "FIELD_TYPE_TIGHTENED"
	ArgTypeRelaxed            Kind = "ARG_TYPE_RELAXED"
	InputFieldTypeRelaxed     Kind = "INPUT_FIELD_TYPE_RELAXED"
	OneOfRemoved              Kind = "ONE_OF_REMOVED"
	RootTypeAdded             Kind = "ROOT_TYPE_ADDED"
	DirectiveAdded            Kind = "DIRECTIVE_ADDED"
	DirectiveLocationAdded    Kind = "DIRECTIVE_LOCATION_ADDED"
	OptionalDirectiveArgAdded Kind = "OPTIONAL_DIRECTIVE_ARG_ADDED"
	DirectiveArgTypeRelaxed   Kind = "DIRECTIVE_ARG_TYPE_RELAXED"
)

// Change is one difference between two schemas.
type Change struct {
	Kind     Kind
	Severity Severity
	// Path names what changed: Type, Type.field, Type.field(arg), Enum.VALUE,
	// Union.Member, Type.Interface, @directive, @directive(arg), @directive.LOCATION,
	// or a root operation (query, mutation, subscription).
	Path string
	// Detail explains the change to a person.
	Detail string
}

// ID is the change's identifier, "KIND Path", as intended.txt lists it.
func (c Change) ID() string { return string(c.Kind) + " " + c.Path }

func (c Change) String() string { return c.ID() + ": " + c.Detail }

// Diff lists the changes from old to new, most severe first, then by identifier.
// Built-in types and directives are left out: they are the same on both sides.
func Diff(old, new *ast.Schema) []Change {
	d := &differ{}
	d.roots(old, new)
	for _, name := range slices.Sorted(maps.Keys(old.Types)) {
		o := old.Types[name]
		if o.BuiltIn {
			continue
		}
		n, ok := new.Types[name]
		if !ok {
			d.add(TypeRemoved, Breaking, name, "%s %s was removed", kindName(o.Kind), name)
			continue
		}
		d.typ(o, n)
	}
	for _, name := range slices.Sorted(maps.Keys(new.Types)) {
		if n := new.Types[name]; !n.BuiltIn && old.Types[name] == nil {
			d.add(TypeAdded, Safe, name, "%s %s was added", kindName(n.Kind), name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(old.Directives)) {
		o := old.Directives[name]
		if builtIn(o.Position) {
			continue
		}
		if n, ok := new.Directives[name]; ok {
			d.directive(o, n)
		} else {
			d.add(DirectiveRemoved, Breaking, "@"+name, "directive @%s was removed", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(new.Directives)) {
		if n := new.Directives[name]; !builtIn(n.Position) && old.Directives[name] == nil {
			d.add(DirectiveAdded, Safe, "@"+name, "directive @%s was added", name)
		}
	}
	slices.SortStableFunc(d.changes, func(a, b Change) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(a.ID(), b.ID()))
	})
	return d.changes
}

type differ struct {
	changes []Change
}

func (d *differ) add(kind Kind, sev Severity, path, format string, args ...any) {
	d.changes = append(d.changes, Change{Kind: kind, Severity: sev, Path: path, Detail: fmt.Sprintf(format, args...)})
}

func (d *differ) roots(old, new *ast.Schema) {
	for _, r := range []struct {
		op       string
		old, new *ast.Definition
	}{
		{"query", old.Query, new.Query},
		{"mutation", old.Mutation, new.Mutation},
		{"subscription", old.Subscription, new.Subscription},
	} {
		switch {
		case r.old == nil && r.new != nil:
			d.add(RootTypeAdded, Safe, r.op, "the %s root type %s was added", r.op, r.new.Name)
		case r.old != nil && r.new == nil:
			d.add(RootTypeChanged, Breaking, r.op, "the %s root type %s was removed", r.op, r.old.Name)
		case r.old != nil && r.old.Name != r.new.Name:
			d.add(RootTypeChanged, Breaking, r.op, "the %s root type changed from %s to %s", r.op, r.old.Name, r.new.Name)
		}
	}
}

func (d *differ) typ(o, n *ast.Definition) {
	if o.Kind != n.Kind {
		d.add(TypeKindChanged, Breaking, o.Name, "%s changed from %s to %s", o.Name, kindName(o.Kind), kindName(n.Kind))
		return
	}
	switch o.Kind {
	case ast.Object, ast.Interface:
		d.members(InterfaceRemoved, InterfaceAdded, o.Name, o.Interfaces, n.Interfaces, "interface")
		d.outputFields(o, n)
	case ast.InputObject:
		d.inputFields(o, n)
	case ast.Enum:
		var ov, nv []string
		for _, v := range o.EnumValues {
			ov = append(ov, v.Name)
		}
		for _, v := range n.EnumValues {
			nv = append(nv, v.Name)
		}
		d.members(EnumValueRemoved, EnumValueAdded, o.Name, ov, nv, "enum value")
	case ast.Union:
		d.members(UnionMemberRemoved, UnionMemberAdded, o.Name, o.Types, n.Types, "member type")
	}
}

// members compares named parts of a type: interfaces, enum values, union members.
// Removing one is breaking; adding one is dangerous, as a client may not handle it.
func (d *differ) members(removed, added Kind, typ string, old, new []string, what string) {
	for _, m := range old {
		if !slices.Contains(new, m) {
			d.add(removed, Breaking, typ+"."+m, "%s %s was removed from %s", what, m, typ)
		}
	}
	for _, m := range new {
		if !slices.Contains(old, m) {
			d.add(added, Dangerous, typ+"."+m, "%s %s was added to %s; clients that switch over them may not expect it", what, m, typ)
		}
	}
}

func (d *differ) outputFields(o, n *ast.Definition) {
	for _, of := range o.Fields {
		path := o.Name + "." + of.Name
		nf := n.Fields.ForName(of.Name)
		if nf == nil {
			d.add(FieldRemoved, Breaking, path, "field %s was removed", path)
			continue
		}
		if of.Type.String() != nf.Type.String() {
			if outputSafe(of.Type, nf.Type) {
				d.add(FieldTypeTightened, Safe, path, "field %s changed type from %s to %s", path, of.Type, nf.Type)
			} else {
				d.add(FieldTypeChanged, Breaking, path, "field %s changed type from %s to %s", path, of.Type, nf.Type)
			}
		}
		d.args(path, of.Arguments, nf.Arguments, argKinds)
	}
	for _, nf := range n.Fields {
		if o.Fields.ForName(nf.Name) == nil {
			d.add(FieldAdded, Safe, o.Name+"."+nf.Name, "field %s.%s was added", o.Name, nf.Name)
		}
	}
}

// inputKinds are the kinds one comparison of input values reports: arguments of fields
// and of directives, and fields of input objects.
type inputKinds struct {
	what                                                            string
	removed, typeChanged, typeRelaxed, requiredAdded, optionalAdded Kind
	defaultChanged, defaultAdded                                    Kind
	// optionalAddedSeverity is how an optional addition counts: Dangerous on fields and
	// input objects (a new behaviour that old clients never choose), Safe on directives.
	optionalAddedSeverity Severity
}

var (
	argKinds = inputKinds{"argument", ArgRemoved, ArgTypeChanged, ArgTypeRelaxed,
		RequiredArgAdded, OptionalArgAdded, ArgDefaultChanged, ArgDefaultAdded, Dangerous}
	directiveArgKinds = inputKinds{"argument", DirectiveArgRemoved, DirectiveArgTypeChanged, DirectiveArgTypeRelaxed,
		RequiredDirectiveArgAdded, OptionalDirectiveArgAdded, DirectiveArgDefaultChanged, ArgDefaultAdded, Safe}
	inputFieldKinds = inputKinds{"input field", InputFieldRemoved, InputFieldTypeChanged, InputFieldTypeRelaxed,
		RequiredInputFieldAdded, OptionalInputFieldAdded, InputFieldDefaultChanged, InputFieldDefaultAdded, Dangerous}
)

// inputValue is what arguments and input fields share.
type inputValue struct {
	name string
	typ  *ast.Type
	def  *ast.Value
}

func (d *differ) args(owner string, old, new ast.ArgumentDefinitionList, k inputKinds) {
	var ov, nv []inputValue
	for _, a := range old {
		ov = append(ov, inputValue{a.Name, a.Type, a.DefaultValue})
	}
	for _, a := range new {
		nv = append(nv, inputValue{a.Name, a.Type, a.DefaultValue})
	}
	d.inputValues(ov, nv, k, func(name string) string { return owner + "(" + name + ")" })
}

func (d *differ) inputFields(o, n *ast.Definition) {
	var ov, nv []inputValue
	for _, f := range o.Fields {
		ov = append(ov, inputValue{f.Name, f.Type, f.DefaultValue})
	}
	for _, f := range n.Fields {
		nv = append(nv, inputValue{f.Name, f.Type, f.DefaultValue})
	}
	d.inputValues(ov, nv, inputFieldKinds, func(name string) string { return o.Name + "." + name })
	oldOneOf, newOneOf := o.Directives.ForName("oneOf") != nil, n.Directives.ForName("oneOf") != nil
	switch {
	case newOneOf && !oldOneOf:
		d.add(OneOfAdded, Breaking, o.Name, "input %s became @oneOf: inputs that set several fields are now invalid", o.Name)
	case oldOneOf && !newOneOf:
		d.add(OneOfRemoved, Safe, o.Name, "input %s is no longer @oneOf", o.Name)
	}
}

func (d *differ) inputValues(old, new []inputValue, k inputKinds, pathOf func(string) string) {
	byName := func(list []inputValue, name string) *inputValue {
		for i := range list {
			if list[i].name == name {
				return &list[i]
			}
		}
		return nil
	}
	for _, o := range old {
		path := pathOf(o.name)
		n := byName(new, o.name)
		if n == nil {
			d.add(k.removed, Breaking, path, "%s %s was removed", k.what, path)
			continue
		}
		if o.typ.String() != n.typ.String() {
			if inputSafe(o.typ, n.typ) {
				d.add(k.typeRelaxed, Safe, path, "%s %s changed type from %s to %s", k.what, path, o.typ, n.typ)
			} else {
				d.add(k.typeChanged, Breaking, path, "%s %s changed type from %s to %s", k.what, path, o.typ, n.typ)
			}
		}
		od, nd := canonical(o.def), canonical(n.def)
		switch {
		case od == nd:
		case od == "":
			d.add(k.defaultAdded, Dangerous, path, "%s %s got the default %s: leaving it out no longer means null", k.what, path, nd)
		case nd == "":
			d.add(k.defaultChanged, Breaking, path, "%s %s lost its default %s", k.what, path, od)
		default:
			d.add(k.defaultChanged, Breaking, path, "%s %s changed its default from %s to %s", k.what, path, od, nd)
		}
	}
	for _, n := range new {
		if byName(old, n.name) != nil {
			continue
		}
		path := pathOf(n.name)
		if n.typ.NonNull && n.def == nil {
			d.add(k.requiredAdded, Breaking, path, "required %s %s (%s, no default) was added", k.what, path, n.typ)
		} else {
			d.add(k.optionalAdded, k.optionalAddedSeverity, path, "optional %s %s (%s) was added", k.what, path, n.typ)
		}
	}
}

func (d *differ) directive(o, n *ast.DirectiveDefinition) {
	name := "@" + o.Name
	d.args(name, o.Arguments, n.Arguments, directiveArgKinds)
	for _, loc := range o.Locations {
		if !slices.Contains(n.Locations, loc) {
			d.add(DirectiveLocationRemoved, Breaking, name+"."+string(loc), "directive %s may no longer be used on %s", name, loc)
		}
	}
	for _, loc := range n.Locations {
		if !slices.Contains(o.Locations, loc) {
			d.add(DirectiveLocationAdded, Safe, name+"."+string(loc), "directive %s may now be used on %s", name, loc)
		}
	}
	if o.IsRepeatable && !n.IsRepeatable {
		d.add(DirectiveRepeatableRemoved, Breaking, name, "directive %s is no longer repeatable", name)
	}
}

// outputSafe reports whether a field of type old may become new without breaking a
// client: the same named type, wrapped in the same lists, with non-null added anywhere.
func outputSafe(old, new *ast.Type) bool {
	if old.NonNull && !new.NonNull {
		return false
	}
	if old.Elem != nil {
		return new.Elem != nil && outputSafe(old.Elem, new.Elem)
	}
	return new.Elem == nil && old.NamedType == new.NamedType
}

// inputSafe reports whether an argument or input field of type old may become new
// without breaking a client: the same named type, wrapped in the same lists, with
// non-null removed anywhere.
func inputSafe(old, new *ast.Type) bool {
	if !old.NonNull && new.NonNull {
		return false
	}
	if old.Elem != nil {
		return new.Elem != nil && inputSafe(old.Elem, new.Elem)
	}
	return new.Elem == nil && old.NamedType == new.NamedType
}

// canonical prints a default value with object fields sorted, so that reordering them
// is no change; "" means no default.
func canonical(v *ast.Value) string {
	if v == nil {
		return ""
	}
	switch v.Kind {
	case ast.ListValue:
		parts := make([]string, len(v.Children))
		for i, c := range v.Children {
			parts[i] = canonical(c.Value)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case ast.ObjectValue:
		parts := make([]string, len(v.Children))
		for i, c := range v.Children {
			parts[i] = c.Name + ": " + canonical(c.Value)
		}
		slices.Sort(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return v.String()
	}
}

func kindName(k ast.DefinitionKind) string {
	switch k {
	case ast.Scalar:
		return "scalar"
	case ast.Object:
		return "type"
	case ast.Interface:
		return "interface"
	case ast.Union:
		return "union"
	case ast.Enum:
		return "enum"
	case ast.InputObject:
		return "input"
	}
	return strings.ToLower(string(k))
}

func builtIn(p *ast.Position) bool { return p != nil && p.Src != nil && p.Src.BuiltIn }
