package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
)

func init() {
	register(command{
		name:    "signup",
		summary: "create a tenant on a control plane and log in with its first API key",
		run:     func(ctx context.Context, args []string) error { return signupCmd(ctx, args, os.Stdout) },
	})
}

const signupUsage = `usage: flockctl signup --url URL --name NAME [--email EMAIL] [--save=false] [-o json]

Creates a tenant and prints its first API key, which is shown only once.
Unless --save=false, the URL and key are saved as by 'flockctl login'.
`

func signupCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("signup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", "", "control-plane URL")
	name := fs.String("name", "", "tenant name, e.g. your company")
	email := fs.String("email", "", "contact email (optional)")
	save := fs.Bool("save", true, "save the URL and API key for later commands")
	output := fs.String("o", "table", "output format: table or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, signupUsage)
			return nil
		}
		return fmt.Errorf("signup: %v: %w", err, errUsage)
	}
	if *url == "" || *name == "" || fs.NArg() > 0 {
		return fmt.Errorf("signup: --url and --name are required: %w", errUsage)
	}
	if *output != "table" && *output != "json" {
		return fmt.Errorf("signup: -o %q: want table or json: %w", *output, errUsage)
	}
	resp, err := apiv1.Created(apiv1.New(*url, "", nil).SignupWithResponse(ctx, apiv1.SignupRequest{Name: *name, Email: *email}))
	if err != nil {
		return fmt.Errorf("signup: %w", err)
	}
	saved := ""
	if *save {
		p, err := saveCLIConfig(cliConfig{URL: strings.TrimRight(*url, "/"), APIKey: resp.APIKey.Key})
		if err != nil {
			return fmt.Errorf("signup: tenant %s created, but saving the login failed (keep this key: %s): %w", resp.Tenant.ID, resp.APIKey.Key, err)
		}
		saved = p
	}
	if *output == "json" {
		return printJSON(stdout, resp)
	}
	fmt.Fprintf(stdout, "Tenant:   %s (%s)\n", resp.Tenant.ID, resp.Tenant.Name)
	fmt.Fprintf(stdout, "API key:  %s\n", resp.APIKey.Key)
	fmt.Fprintf(stdout, "          (shown only this once; store it safely)\n")
	fmt.Fprintf(stdout, "Platform signing key: %s (%s)\n", resp.PlatformKey.ID, resp.PlatformKey.Algorithm)
	if saved != "" {
		fmt.Fprintf(stdout, "Saved the login to %s\n", saved)
	}
	fmt.Fprintln(stdout, "Next: flockctl devices create my-device && flockctl credentials issue-token my-device")
	return nil
}

func init() {
	register(command{
		name:    "tenant",
		summary: "show your tenant: name, quotas and usage",
		run:     func(ctx context.Context, args []string) error { return tenantCmd(ctx, args, os.Stdout) },
	})
}

func tenantCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tenant", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var af apiFlags
	af.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "usage: flockctl tenant [--url URL] [--api-key KEY] [-o table|json]")
			return nil
		}
		return fmt.Errorf("tenant: %v: %w", err, errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("tenant: unexpected argument %q: %w", fs.Arg(0), errUsage)
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	t, err := apiv1.OK(c.GetTenantWithResponse(ctx))
	if err != nil {
		return fmt.Errorf("tenant: %w", err)
	}
	if af.output == "json" {
		return printJSON(stdout, t)
	}
	devices := "-"
	if t.Usage != nil {
		devices = fmt.Sprint(t.Usage.Devices)
	}
	fmt.Fprintf(stdout, "Tenant %s (%s), created %s", t.ID, t.Name, fmtTime(t.CreatedAt))
	if t.Disabled {
		fmt.Fprint(stdout, ", DISABLED")
	}
	fmt.Fprintln(stdout)
	q := t.Quotas
	tb := newTable(stdout, "LIMIT", "VALUE", "USED")
	tb.row("devices", q.MaxDevices, devices)
	tb.row("connections", q.MaxConnections, "")
	tb.row("messages per second", q.MaxMessagesPerSecond, "")
	tb.row("bytes per second", q.MaxBytesPerSecond, "")
	tb.row("payload bytes", q.MaxPayloadBytes, "")
	tb.row("subscriptions per device", q.MaxSubscriptionsPerDevice, "")
	tb.row("retained messages", q.MaxRetained, "")
	tb.row("queued messages", q.MaxQueuedMessages, "")
	tb.row("session expiry (s)", q.MaxSessionExpirySeconds, "")
	return tb.flush()
}
