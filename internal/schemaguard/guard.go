package schemaguard

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// LoadSchema reads and validates a schema file; its errors name the file.
func LoadSchema(path string) (*ast.Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := gqlparser.LoadSchema(&ast.Source{Name: path, Input: string(b)})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Intended is the list of breaking changes made on purpose since the last release:
// the reason for each, by change identifier.
type Intended map[string]string

// ParseIntended reads intended.txt: one change identifier a line, exactly as the check
// prints it ("FIELD_REMOVED Query.foo"), then "# " and why. Blank lines and lines that
// start with # are comments. Every entry needs its reason; an unknown kind or a repeated
// entry is an error too, so that a typo cannot silently allow nothing.
func ParseIntended(r io.Reader) (Intended, error) {
	out := Intended{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry, why, _ := strings.Cut(line, "#")
		fields := strings.Fields(entry)
		why = strings.TrimSpace(why)
		switch {
		case len(fields) != 2:
			return nil, fmt.Errorf("line %d: want \"KIND Path  # why\", got %q", n, line)
		case !breakingKinds[Kind(fields[0])]:
			return nil, fmt.Errorf("line %d: %s is not a kind of breaking change", n, fields[0])
		case why == "":
			return nil, fmt.Errorf("line %d: %s needs a reason after #", n, entry)
		}
		id := fields[0] + " " + fields[1]
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("line %d: %s is listed twice", n, id)
		}
		out[id] = why
	}
	return out, sc.Err()
}

var breakingKinds = map[Kind]bool{
	TypeRemoved: true, TypeKindChanged: true, FieldRemoved: true, FieldTypeChanged: true,
	ArgRemoved: true, ArgTypeChanged: true, RequiredArgAdded: true, ArgDefaultChanged: true,
	InputFieldRemoved: true, InputFieldTypeChanged: true, RequiredInputFieldAdded: true,
	InputFieldDefaultChanged: true, OneOfAdded: true, EnumValueRemoved: true,
	UnionMemberRemoved: true, InterfaceRemoved: true, RootTypeChanged: true,
	DirectiveRemoved: true, DirectiveArgRemoved: true, DirectiveArgTypeChanged: true,
	DirectiveArgDefaultChanged: true, RequiredDirectiveArgAdded: true,
	DirectiveLocationRemoved: true, DirectiveRepeatableRemoved: true,
}

// Check splits changes by what intended allows: unintended are the breaking changes it
// does not list, and stale the entries that match no breaking change any more (already
// released, or never made), which should go.
func Check(changes []Change, intended Intended) (unintended []Change, stale []string) {
	seen := map[string]bool{}
	for _, c := range changes {
		if c.Severity != Breaking {
			continue
		}
		seen[c.ID()] = true
		if _, ok := intended[c.ID()]; !ok {
			unintended = append(unintended, c)
		}
	}
	for id := range intended {
		if !seen[id] {
			stale = append(stale, id)
		}
	}
	slices.Sort(stale)
	return unintended, stale
}

// Advice is the failure message for unintended breaking changes and stale entries:
// what happened, and the exact lines to add to or remove from intended.txt.
func Advice(unintended []Change, stale []string) string {
	var b strings.Builder
	if len(unintended) > 0 {
		fmt.Fprintf(&b, "schema.graphql breaks clients of the last released schema "+
			"(internal/schemaguard/released.graphql) in %d way(s):\n\n", len(unintended))
		for _, c := range unintended {
			fmt.Fprintf(&b, "  %s\n", c)
		}
		b.WriteString("\nUndo these changes, or, if they are intended (clients updated, a deprecation period over),\n" +
			"add these lines to internal/schemaguard/intended.txt with the reason after #:\n\n")
		for _, c := range unintended {
			fmt.Fprintf(&b, "%s  # why\n", c.ID())
		}
		b.WriteString("\nWhen the schema ships, release it: go run ./internal/schemaguard/cmd/release\n" +
			"(copies schema.graphql to released.graphql and empties intended.txt).\n")
	}
	if len(stale) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString("internal/schemaguard/intended.txt lists changes schema.graphql does not make " +
			"(released already, or undone); remove these lines:\n\n")
		for _, id := range stale {
			fmt.Fprintf(&b, "%s\n", id)
		}
	}
	return b.String()
}
