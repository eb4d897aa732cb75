package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDevicesCommands(t *testing.T) {
	url := startControlPlane(t)
	mustFlockctl(t, "signup", "--url", url, "--name", "Acme")

	out := mustFlockctl(t, "devices", "create", "sensor-7", "--tag", "site=berlin", "--meta", "fw=1.2")
	if !strings.Contains(out, "sensor-7") || !strings.Contains(out, "site=berlin") {
		t.Errorf("devices create:\n%s", out)
	}
	if _, err := flockctl(t, "devices", "create", "sensor-7"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate create = %v", err)
	}
	out = mustFlockctl(t, "devices", "get", "sensor-7", "-o", "json")
	var d struct {
		ID   string            `json:"id"`
		Tags map[string]string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.ID != "sensor-7" || d.Tags["site"] != "berlin" {
		t.Fatalf("devices get -o json = %q, %v", out, err)
	}
	out = mustFlockctl(t, "devices", "update", "sensor-7", "--disable", "--tag", "site=paris")
	if !strings.Contains(out, "yes") || !strings.Contains(out, "site=paris") {
		t.Errorf("devices update:\n%s", out)
	}

	csvPath := filepath.Join(t.TempDir(), "fleet.csv")
	var b strings.Builder
	b.WriteString("id,tag:site,meta:serial\n")
	for i := range 30 {
		fmt.Fprintf(&b, "meter-%02d,hamburg,SN-%d\n", i, i)
	}
	b.WriteString("bad id,x,y\n")
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := flockctl(t, "devices", "import", csvPath)
	if err == nil || !strings.Contains(out, "Imported 30 of 31") || !strings.Contains(out, "32") || !strings.Contains(out, "bad id") {
		t.Errorf("devices import = %v\n%s\nwant 30 of 31 and line 32 reported", err, out)
	}

	out = mustFlockctl(t, "devices", "list", "--tag", "site=hamburg", "--limit", "10", "--all", "-o", "json")
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 30 {
		t.Fatalf("devices list --all = %d items, %v", len(list.Items), err)
	}
	out = mustFlockctl(t, "devices", "list", "--limit", "5")
	if !strings.Contains(out, "More devices follow") || strings.Count(out, "\n") != 7 {
		t.Errorf("devices list --limit 5:\n%s", out)
	}
	mustFlockctl(t, "devices", "delete", "sensor-7")
	if _, err := flockctl(t, "devices", "get", "sensor-7"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("get after delete = %v, want 404", err)
	}
	for _, args := range [][]string{
		{"devices", "create"},
		{"devices", "get", "a", "b"},
		{"devices", "update", "a"},
		{"devices", "update", "a", "--disable", "--enable"},
		{"devices", "frobnicate"},
		{"devices", "list", "-o", "xml"},
		{"devices", "create", "x", "--tag", "novalue"},
	} {
		if _, err := flockctl(t, args...); !errors.Is(err, errUsage) {
			t.Errorf("flockctl %v = %v, want a usage error", args, err)
		}
	}
}
