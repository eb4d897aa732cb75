package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
)

// Environment variables that override the saved control-plane login.
const (
	envAPIURL = "FLOCK_URL"
	envAPIKey = "FLOCK_API_KEY"
)

// cliConfig is what `flockctl login` saves: where the control plane is and
// the API key to use there.
type cliConfig struct {
	URL    string `json:"url"`
	APIKey string `json:"api_key"`
}

// cliConfigPath is $XDG_CONFIG_HOME/flockmq/config.json (~/.config/flockmq
// when XDG_CONFIG_HOME is unset).
func cliConfigPath() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the config directory: set XDG_CONFIG_HOME or HOME: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "flockmq", "config.json"), nil
}

// loadCLIConfig reads the saved login; a missing file is an empty config.
func loadCLIConfig() (cliConfig, error) {
	var c cliConfig
	p, err := cliConfigPath()
	if err != nil {
		return c, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read %s: %w", p, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("read %s: not valid JSON (%v); run 'flockctl login' again", p, err)
	}
	return c, nil
}

// saveCLIConfig writes the login with mode 0600 (it holds a secret), in a
// directory of mode 0700, replacing the file atomically.
func saveCLIConfig(c cliConfig) (string, error) {
	p, err := cliConfigPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(p), err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".config-*.json")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	return p, nil
}

func init() {
	register(command{
		name:    "login",
		summary: "save the control-plane URL and API key for the other commands",
		run:     func(ctx context.Context, args []string) error { return loginCmd(ctx, args, os.Stdout) },
	})
}

const loginUsage = `usage: flockctl login --url URL --api-key KEY

Checks the key against the control plane and saves both in
$XDG_CONFIG_HOME/flockmq/config.json (mode 0600). $FLOCK_URL and
$FLOCK_API_KEY override the saved values.
`

func loginCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", "", "control-plane URL, e.g. https://cp.example.com")
	key := fs.String("api-key", "", "API key (fmq_…)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, loginUsage)
			return nil
		}
		return fmt.Errorf("login: %v: %w", err, errUsage)
	}
	if *url == "" || *key == "" || fs.NArg() > 0 {
		return fmt.Errorf("login: --url and --api-key are required: %w", errUsage)
	}
	if !strings.HasPrefix(*key, "fmq_") {
		return fmt.Errorf("login: --api-key: API keys begin with fmq_: %w", errUsage)
	}
	t, err := apiv1.OK(apiv1.New(*url, *key, nil).GetTenantWithResponse(ctx))
	if err != nil {
		return fmt.Errorf("login: check the key: %w", err)
	}
	p, err := saveCLIConfig(cliConfig{URL: strings.TrimRight(*url, "/"), APIKey: *key})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	fmt.Fprintf(stdout, "Logged in to %s as tenant %s (%s); saved to %s\n", *url, t.ID, t.Name, p)
	return nil
}
