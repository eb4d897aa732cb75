package apiv1_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/oapi-codegen/oapi-codegen/v2/pkg/codegen"
	"github.com/oapi-codegen/oapi-codegen/v2/pkg/util"
	"go.yaml.in/yaml/v3"
)

// TestGeneratedCodeIsFresh runs the generator go generate runs (the same
// oapi-codegen version, pinned in go.mod, as a library) on openapi.yaml with
// oapi-codegen.yaml and compares its output with the checked-in file.
func TestGeneratedCodeIsFresh(t *testing.T) {
	raw, err := os.ReadFile("oapi-codegen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The layout of the command's configuration file: the library's
	// Configuration plus the output file name.
	var cfg struct {
		codegen.Configuration `yaml:",inline"`
		Output                string `yaml:"output"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("oapi-codegen.yaml: %v", err)
	}
	opts := cfg.Configuration.UpdateDefaults()
	if err := opts.Validate(); err != nil {
		t.Fatalf("oapi-codegen.yaml: %v", err)
	}
	spec, err := util.LoadSwaggerWithOverlay("openapi.yaml", util.LoadSwaggerWithOverlayOpts{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	want, err := codegen.Generate(spec, opts)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	got, err := os.ReadFile(cfg.Output)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is stale: it differs from what oapi-codegen makes of openapi.yaml; run go generate ./api/...", cfg.Output)
	}
}
