package schemaguard

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// skipDirs are folders that hold installed packages or generated output, never
// operations of ours.
var skipDirs = map[string]bool{
	"node_modules": true, "dist": true, "build": true, "coverage": true,
	"generated": true, "__generated__": true, ".git": true,
}

// OperationFiles lists the *.graphql files under each of dirs, relative to root, in a
// stable order. A dir that does not exist contributes nothing.
func OperationFiles(root string, dirs ...string) ([]string, error) {
	var out []string
	for _, dir := range dirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if skipDirs[d.Name()] {
					return filepath.SkipDir
				}
				return nil
			}
			if filepath.Ext(path) == ".graphql" {
				rel, err := filepath.Rel(root, path)
				if err != nil {
					return err
				}
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	slices.Sort(out)
	return out, nil
}

// Problem is one reason an operation file is not valid against the schema.
type Problem struct {
	File         string
	Line, Column int
	Message      string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Message)
}

// ValidateOperations parses files (relative to root) as one document, so that an
// operation may spread a fragment defined in another file, and validates it against
// schema with the rules the server applies. A fragment no operation spreads is not a
// problem: client code may read it from the cache on its own.
func ValidateOperations(schema *ast.Schema, root string, files []string) ([]Problem, error) {
	var problems []Problem
	doc := &ast.QueryDocument{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return nil, err
		}
		d, err := parser.ParseQuery(&ast.Source{Name: f, Input: string(b)})
		if err != nil {
			problems = append(problems, parseProblem(f, err))
			continue
		}
		doc.Operations = append(doc.Operations, d.Operations...)
		doc.Fragments = append(doc.Fragments, d.Fragments...)
	}
	if len(problems) > 0 {
		// Validating the rest would report spreads of the fragments that did not parse.
		return problems, nil
	}
	r := rules.NewDefaultRules()
	r.RemoveRule(rules.NoUnusedFragmentsRule.Name)
	for _, e := range validator.ValidateWithRulesWithSources(schema, doc, r) {
		p := Problem{File: "(all files)", Message: e.Message}
		if len(e.Locations) > 0 {
			loc := e.Locations[0]
			p.Line, p.Column = loc.Line, loc.Column
			if loc.Source != nil {
				p.File = loc.Source.Name
			}
		}
		problems = append(problems, p)
	}
	return problems, nil
}

func parseProblem(file string, err error) Problem {
	p := Problem{File: file, Message: err.Error()}
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) {
		p.Message = gqlErr.Message
		if len(gqlErr.Locations) > 0 {
			p.Line, p.Column = gqlErr.Locations[0].Line, gqlErr.Locations[0].Column
		}
	}
	return p
}
