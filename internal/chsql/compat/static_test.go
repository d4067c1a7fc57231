package compat

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the module's root, two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s", root)
	}
	return root
}

// sourceFiles parses the module's Go files, test files or not.
func sourceFiles(t *testing.T, tests bool) map[string]*ast.File {
	t.Helper()
	root := repoRoot(t)
	out := map[string]*ast.File{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n != "." && (strings.HasPrefix(n, ".") || n == "node_modules" || n == "testdata") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") != tests {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out[filepath.ToSlash(rel)] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// registeredNames are the literal names of chsql.New calls in the
// programs' source, by file.
func registeredNames(t *testing.T) map[string]string {
	t.Helper()
	names := map[string]string{}
	for path, f := range sourceFiles(t, false) {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isCall(call, "chsql", "New") || len(call.Args) != 2 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				// Grafana panels name their statements after their file;
				// the check knows them from the registry itself.
				if path != "dashboards/grafana/grafana.go" {
					t.Errorf("%s: chsql.New with a name that is not a string literal", path)
				}
				return true
			}
			name, _ := strconv.Unquote(lit.Value)
			if other, dup := names[name]; dup {
				t.Errorf("statement %s is registered in %s and in %s", name, other, path)
			}
			names[name] = path
			return true
		})
	}
	return names
}

func isCall(call *ast.CallExpr, pkg, fn string) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != fn {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}

// TestStatementsRegistered: the programs send SQL only through the
// registry. chsql.New takes a literal name (so this check and the
// coverage check can find it), the driver is opened only in internal/chsql,
// and Driver() (the driver under a chsql.Conn) is for tests, their helpers
// (tests/) and the bench tool.
func TestStatementsRegistered(t *testing.T) {
	names := registeredNames(t)
	if len(names) < 10 {
		t.Fatalf("found %d registered statements in the source, want many", len(names))
	}
	for path, f := range sourceFiles(t, false) {
		inChsql := strings.HasPrefix(path, "internal/chsql/")
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if !inChsql && (isCall(call, "clickhouse", "Open") || isCall(call, "clickhouse", "OpenDB")) {
				t.Errorf("%s: opens ClickHouse around internal/chsql", path)
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Driver" && len(call.Args) == 0 &&
				!inChsql && !strings.HasPrefix(path, "cmd/bench/") && !strings.HasPrefix(path, "tests/") {
				t.Errorf("%s: calls Driver(), which is for tests and the bench tool: register the statement with chsql.New", path)
			}
			return true
		})
	}
}
