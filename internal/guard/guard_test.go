package guard

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/flockmq/flockmq"

type pkgInfo struct {
	ImportPath string
	Dir        string
	Doc        string
	Name       string
	Imports    []string
	GoFiles    []string
	Standard   bool
}

// listPackages runs `go list -json ./...` in the root module.
func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	cmd.Env = append(cmd.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkgInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found %d packages; expected the whole module", len(pkgs))
	}
	return pkgs
}

// TestPackageDocs: every package has exactly one package doc comment
// (STYLE rule 6).
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment (add a doc.go)", p.ImportPath)
			continue
		}
		n := 0
		for _, f := range p.GoFiles {
			if hasPackageDoc(t, filepath.Join(p.Dir, f)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("package %s has a package doc comment in %d files, want exactly 1", p.ImportPath, n)
		}
	}
}

// rule is a dependency rule: packages matching From may import a package
// matching Import only when allowed reports true.
type rule struct {
	name    string
	imports string                     // import path prefix the rule is about
	allowed func(importer string) bool // which importers may use it
}

func under(prefixes ...string) func(string) bool {
	return func(p string) bool {
		for _, pre := range prefixes {
			if p == module+"/"+pre || strings.HasPrefix(p, module+"/"+pre+"/") {
				return true
			}
		}
		return false
	}
}

// TestDependencyRules enforces the layout's import rules (STYLE, "Dependency
// rules that keep the layout honest").
func TestDependencyRules(t *testing.T) {
	pure := under("pkg/mqtt", "pkg/topic", "pkg/subject", "pkg/tenant")
	rules := []rule{
		{"only the NATS-facing packages import nats.go", "github.com/nats-io/nats.go",
			func(p string) bool {
				// The gateway package itself only takes the *nats.Conn it hands to the bridge.
				return p == module+"/services/gateway" || under("services/gateway/internal/bridge", "services/gateway/internal/limits",
					"services/controlplane", "pkg/auth/keycache", "pkg/presence", "internal/flockd", "cmd",
					"internal/natsembed/natstest")(p)
			}},
		{"only session stores import go-redis", "github.com/redis/go-redis",
			under("pkg/session/redisstore", "internal/testutil/redistest", "internal/flockd")},
		{"only jwtauth and the control plane's credentials import golang-jwt", "github.com/golang-jwt/jwt",
			under("pkg/auth/jwtauth", "services/controlplane")},
		{"only the embedded server imports nats-server", "github.com/nats-io/nats-server",
			under("internal/natsembed")},
		{"pkg/ never imports services/", module + "/services/",
			func(p string) bool { return !strings.HasPrefix(p, module+"/pkg/") }},
		{"the gateway does not import the control plane", module + "/services/controlplane",
			func(p string) bool { return !strings.HasPrefix(p, module+"/services/gateway") }},
		{"the control plane does not import the gateway", module + "/services/gateway",
			func(p string) bool { return !strings.HasPrefix(p, module+"/services/controlplane") }},
	}
	for _, p := range listPackages(t) {
		for _, imp := range p.Imports {
			if pure(p.ImportPath) && strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") &&
				!strings.HasPrefix(imp, module+"/pkg/mqtt") && !strings.HasPrefix(imp, module+"/pkg/topic") {
				t.Errorf("%s imports %s: the pure core (mqtt, topic, subject, tenant) uses the standard library only", p.ImportPath, imp)
			}
			for _, r := range rules {
				if strings.HasPrefix(imp, r.imports) && !r.allowed(p.ImportPath) {
					t.Errorf("%s imports %s: %s", p.ImportPath, imp, r.name)
				}
			}
		}
	}
}
