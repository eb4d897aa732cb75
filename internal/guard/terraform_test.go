package guard

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
)

// TestTerraformParses keeps terraform/ from rotting unnoticed: every .tf
// file must be syntactically valid HCL. (terraform validate needs the
// provider downloaded, which CI cannot do.)
func TestTerraformParses(t *testing.T) {
	var files []string
	err := filepath.WalkDir("../../terraform", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Ext(path) == ".tf" {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no Terraform files found under terraform/")
	}
	p := hclparse.NewParser()
	for _, f := range files {
		if _, diags := p.ParseHCLFile(f); diags.HasErrors() {
			t.Errorf("%s: %s", f, diags.Error())
		}
	}
}
