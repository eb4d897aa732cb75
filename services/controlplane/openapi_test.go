package controlplane_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/flockmq/flockmq/services/controlplane/internal/httpapi"
)

const openAPIPath = "../../api/controlplane/v1/openapi.yaml"

// spec is the parsed OpenAPI document with a JSON Schema compiler over it.
type spec struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	mu       sync.Mutex
	schemas  map[string]*jsonschema.Schema // by JSON pointer
	routes   []specRoute
}

type specRoute struct {
	method, template string
	re               *regexp.Regexp
	op               map[string]any
}

var (
	specOnce sync.Once
	specVal  *spec
	specErr  error
)

// loadSpec parses openapi.yaml once per test binary.
func loadSpec(t testing.TB) *spec {
	t.Helper()
	specOnce.Do(func() { specVal, specErr = parseSpec() })
	if specErr != nil {
		t.Fatalf("load %s: %v", openAPIPath, specErr)
	}
	return specVal
}

func parseSpec() (*spec, error) {
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		return nil, err
	}
	var y any
	if err := yaml.Unmarshal(raw, &y); err != nil {
		return nil, err
	}
	js, err := json.Marshal(y)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml is not JSON-compatible: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("file:///openapi.json", doc); err != nil {
		return nil, err
	}
	s := &spec{doc: doc.(map[string]any), compiler: c, schemas: map[string]*jsonschema.Schema{}}
	if v, _ := s.doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		return nil, fmt.Errorf("openapi version %q, want 3.1.x", v)
	}
	paths, _ := s.doc["paths"].(map[string]any)
	for tmpl, item := range paths {
		ops, _ := item.(map[string]any)
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			pat := "^" + regexp.MustCompile(`\\\{[a-z]+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), `[^/]+`) + "$"
			s.routes = append(s.routes, specRoute{method: strings.ToUpper(method), template: tmpl, re: regexp.MustCompile(pat), op: op.(map[string]any)})
		}
	}
	return s, nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func (s *spec) schema(ptr string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.schemas[ptr]; ok {
		return sch, nil
	}
	sch, err := s.compiler.Compile("file:///openapi.json#" + ptr)
	if err != nil {
		return nil, err
	}
	s.schemas[ptr] = sch
	return sch, nil
}

// resolve follows a {"$ref": "#/..."} object within the document.
func (s *spec) resolve(v map[string]any) (map[string]any, string) {
	ref, ok := v["$ref"].(string)
	if !ok {
		return v, ""
	}
	var cur any = s.doc
	for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
		cur = cur.(map[string]any)[p]
	}
	return cur.(map[string]any), strings.TrimPrefix(ref, "#")
}

// check validates one response against the document: the route, method and
// status must be documented and a JSON body must match the schema.
func (s *spec) check(method, path string, status int, header http.Header, body []byte) error {
	var rt *specRoute
	for i := range s.routes {
		r := &s.routes[i]
		if r.method == method && r.re.MatchString(path) {
			if rt == nil || strings.Contains(rt.template, "{") && !strings.Contains(r.template, "{") {
				rt = r
			}
		}
	}
	if rt == nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return s.checkBody("/components/schemas/Error", body)
		}
		return fmt.Errorf("%s %s is not in openapi.yaml", method, path)
	}
	responses, _ := rt.op["responses"].(map[string]any)
	code := fmt.Sprint(status)
	resp, ok := responses[code].(map[string]any)
	if !ok && status >= 500 {
		code = "default"
		resp, ok = responses[code].(map[string]any)
	}
	if !ok {
		return fmt.Errorf("%s %s answered %d, which openapi.yaml does not document for %s", method, path, status, rt.template)
	}
	ptr := "/paths/" + escapePointer(rt.template) + "/" + strings.ToLower(method) + "/responses/" + code
	resp, refPtr := s.resolve(resp)
	if refPtr != "" {
		ptr = refPtr
	}
	content, _ := resp["content"].(map[string]any)
	if content == nil {
		if len(bytes.TrimSpace(body)) != 0 {
			return fmt.Errorf("%s %s answered %d with a body, but openapi.yaml documents none", method, path, status)
		}
		return nil
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%s %s answered %d with Content-Type %q, want application/json", method, path, status, ct)
	}
	return s.checkBody(ptr+"/content/application~1json/schema", body)
}

// checkRequest validates a request body against the operation's schema.
func (s *spec) checkRequest(method, path string, body []byte) error {
	for _, r := range s.routes {
		if r.method != method || !r.re.MatchString(path) {
			continue
		}
		if strings.Contains(r.template, "{") && path == "/v1/devices:bulk" {
			continue
		}
		if _, ok := r.op["requestBody"]; !ok {
			return fmt.Errorf("%s %s took a body, but openapi.yaml documents none", method, path)
		}
		return s.checkBody("/paths/"+escapePointer(r.template)+"/"+strings.ToLower(method)+"/requestBody/content/application~1json/schema", body)
	}
	return fmt.Errorf("%s %s is not in openapi.yaml", method, path)
}

func (s *spec) checkBody(ptr string, body []byte) error {
	sch, err := s.schema(ptr)
	if err != nil {
		return fmt.Errorf("compile schema %s: %w", ptr, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("response body is not JSON: %w: %q", err, body)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("response does not match %s: %v\nbody: %.2000s", ptr, err, body)
	}
	return nil
}

// validatingTransport checks every response against openapi.yaml and fails
// the test on a mismatch.
type validatingTransport struct {
	t    testing.TB
	spec *spec
	base http.RoundTripper
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		reqBody, _ = io.ReadAll(rc)
		rc.Close()
	}
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := v.spec.check(req.Method, req.URL.Path, resp.StatusCode, resp.Header, body); err != nil {
		v.t.Errorf("openapi conformance: %v", err)
	}
	// A request the server accepted must match the documented request
	// schema: the server must not accept what the document forbids.
	// (A bulk request is accepted item by item: only a batch without
	// failed items must match the schema as a whole.)
	partial := req.URL.Path == "/v1/devices:bulk" && !bytes.Contains(body, []byte(`"failed":0,`))
	if resp.StatusCode < 300 && len(bytes.TrimSpace(reqBody)) > 0 && !partial {
		if err := v.spec.checkRequest(req.Method, req.URL.Path, reqBody); err != nil {
			v.t.Errorf("openapi conformance: accepted request: %v", err)
		}
	}
	return resp, nil
}

// TestOpenAPIRoutes: every route the server registers is documented and
// every documented operation is served.
func TestOpenAPIRoutes(t *testing.T) {
	s := loadSpec(t)
	var documented []string
	for _, r := range s.routes {
		documented = append(documented, r.method+" "+r.template)
	}
	served := httpapi.Routes()
	sort.Strings(documented)
	sort.Strings(served)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is served but not in openapi.yaml", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("operation %s is in openapi.yaml but not served", r)
		}
	}
}

// TestOpenAPISchemasCompile: every schema and every operation's response
// schema compiles as JSON Schema 2020-12, and every operation has an id.
func TestOpenAPISchemasCompile(t *testing.T) {
	s := loadSpec(t)
	comps := s.doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name := range comps {
		if _, err := s.schema("/components/schemas/" + name); err != nil {
			t.Errorf("schema %s: %v", name, err)
		}
	}
	ids := map[string]bool{}
	for _, r := range s.routes {
		id, _ := r.op["operationId"].(string)
		if id == "" || ids[id] {
			t.Errorf("%s %s: operationId %q missing or duplicate", r.method, r.template, id)
		}
		ids[id] = true
		if rb, ok := r.op["requestBody"].(map[string]any); ok {
			ptr := "/paths/" + escapePointer(r.template) + "/" + strings.ToLower(r.method) + "/requestBody/content/application~1json/schema"
			if _, err := s.schema(ptr); err != nil || rb["content"] == nil {
				t.Errorf("%s %s request body schema: %v", r.method, r.template, err)
			}
		}
	}
}
