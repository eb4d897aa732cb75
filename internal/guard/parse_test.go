package guard

import (
	"go/parser"
	"go/token"
	"testing"
)

// hasPackageDoc reports whether the Go file has a doc comment on its
// package clause.
func hasPackageDoc(t *testing.T, path string) bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return f.Doc != nil
}
