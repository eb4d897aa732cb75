package limits

import (
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestOnePackageDoc checks that exactly one file, doc.go, documents the package.
func TestOnePackageDoc(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			documented = append(documented, name)
		}
	}
	if len(documented) != 1 || documented[0] != "doc.go" {
		t.Errorf("files with a package doc comment = %v, want [doc.go]", documented)
	}
}
