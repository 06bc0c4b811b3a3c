package apperr_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"inkwell/internal/apperr"
)

var codeValue = regexp.MustCompile(`^[A-Z][A-Z_]+[A-Z]$`)

// README.md's table of errors is apperr.Table, so that a client's developer finds every
// code explained, with its HTTP status; and every error code in the code base (a constant
// named code… or Code… holding an UPPER_SNAKE value, in any package) is declared here,
// in the one table.
func TestREADMEListsEveryErrorCode(t *testing.T) {
	root := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start, end := strings.Index(section, "### Errors"), strings.Index(section, "### Pagination")
	if start < 0 || end < start {
		t.Fatal("README.md has no Errors section before Pagination")
	}
	section = section[start:end]

	codes := map[string]string{} // code -> where it is declared
	fset := token.NewFileSet()
	for _, dir := range []string{"internal", "graph"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				g, ok := decl.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST {
					continue
				}
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if !strings.HasPrefix(strings.ToLower(name.Name), "code") || i >= len(vs.Values) {
							continue
						}
						lit, ok := vs.Values[i].(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							continue
						}
						v, err := strconv.Unquote(lit.Value)
						if err == nil && codeValue.MatchString(v) {
							codes[v] = fset.Position(name.Pos()).String()
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(codes) < 20 {
		t.Fatalf("found only %d error codes: the scan is broken", len(codes))
	}
	for code, where := range codes {
		if _, ok := apperr.Lookup(apperr.Code(code)); !ok || !strings.Contains(where, filepath.Join("internal", "apperr")) {
			t.Errorf("%s (%s) is not declared in internal/apperr and listed in its Table", code, where)
		}
	}
	if want := apperr.Markdown(); !strings.Contains(section, want) {
		t.Errorf("README.md's Errors section does not hold apperr.Table; the table should read:\n\n%s", want)
	}
	seen := map[apperr.Code]bool{}
	for _, i := range apperr.Table {
		if seen[i.Code] || i.Meaning == "" {
			t.Errorf("%s is twice in Table, or has no meaning", i.Code)
		}
		seen[i.Code] = true
	}
}
