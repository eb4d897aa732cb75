package flockd

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestDeploymentManifests keeps deployments/ honest: every Kubernetes
// document parses, and the flockd configuration file the gateway manifest
// ships passes flockd's strict loader (unknown keys are errors).
func TestDeploymentManifests(t *testing.T) {
	files, err := filepath.Glob("../../deployments/kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests found: %v", err)
	}
	configs := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(data, []byte("\n---\n")) {
			var m struct {
				APIVersion string            `json:"apiVersion"`
				Kind       string            `json:"kind"`
				Data       map[string]string `json:"data"`
			}
			if err := yaml.Unmarshal(doc, &m); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if m.APIVersion == "" || m.Kind == "" {
				t.Errorf("%s document %d has no apiVersion or kind", f, i)
			}
			for name, content := range m.Data {
				if !strings.HasSuffix(name, ".yaml") {
					continue
				}
				path := filepath.Join(t.TempDir(), name)
				if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				env := map[string]string{"FLOCKD_NATS_URL": "nats://nats:4222"}
				if _, err := parse([]string{"gateway", "--config", path}, func(k string) string { return env[k] }, io.Discard); err != nil {
					t.Errorf("%s: %s is not a valid flockd configuration: %v", f, name, err)
				}
				configs++
			}
		}
	}
	if configs == 0 {
		t.Error("no flockd configuration found in the manifests")
	}
}
