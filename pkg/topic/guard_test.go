package topic

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPackageGuards keeps the package pure: standard library imports only,
// and exactly one package doc comment.
func TestPackageGuards(t *testing.T) {
	checkPackageGuards(t, nil)
}

// checkPackageGuards checks the non-test Go files in the current directory:
// every import is from the standard library or listed in allowed, and
// exactly one file carries the package doc comment.
func checkPackageGuards(t *testing.T, allowed map[string]bool) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	docs := 0
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			docs++
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(strings.Split(path, "/")[0], ".") && !allowed[path] {
				t.Errorf("%s imports %s: only the standard library is allowed", name, path)
			}
		}
	}
	if docs != 1 {
		t.Errorf("found %d package doc comments, want exactly 1 (in doc.go)", docs)
	}
}
