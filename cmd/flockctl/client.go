package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
)

// apiFlags are the flags every control-plane command takes.
type apiFlags struct {
	url    string
	apiKey string
	output string // "table" or "json"
}

func (a *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.url, "url", "", "control-plane URL (default $"+envAPIURL+", else the saved login)")
	fs.StringVar(&a.apiKey, "api-key", "", "API key (default $"+envAPIKey+", else the saved login)")
	fs.StringVar(&a.output, "o", "table", "output format: table or json")
}

// client builds a control-plane client: flags first, then the environment,
// then the saved login.
func (a *apiFlags) client() (*apiv1.ClientWithResponses, error) {
	if a.output != "table" && a.output != "json" {
		return nil, fmt.Errorf("-o %q: want table or json: %w", a.output, errUsage)
	}
	saved, err := loadCLIConfig()
	if err != nil {
		return nil, err
	}
	url := firstNonEmpty(a.url, os.Getenv(envAPIURL), saved.URL)
	key := firstNonEmpty(a.apiKey, os.Getenv(envAPIKey), saved.APIKey)
	if url == "" {
		return nil, errors.New("no control-plane URL: run 'flockctl login --url URL --api-key KEY', or set " + envAPIURL)
	}
	if key == "" {
		return nil, errors.New("no API key: run 'flockctl login --url URL --api-key KEY', or set " + envAPIKey)
	}
	return apiv1.New(url, key, nil), nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseArgs parses flags that may come before, between or after positional
// arguments ("devices create sensor-7 --tag site=berlin") and returns the
// positional ones. -h answers flag.ErrHelp.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
