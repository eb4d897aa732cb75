package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
)

func init() {
	register(command{
		name:    "credentials",
		summary: "register device and issuer keys, issue device tokens, revoke credentials",
		run: func(ctx context.Context, args []string) error {
			return credentialsCmd(ctx, args, os.Stdout)
		},
	})
}

const credentialsUsage = `usage: flockctl credentials <subcommand> [flags]

  add-key DEVICE (--pem FILE | --jwk FILE) [--not-after RFC3339]
        register a public key the device signs its own tokens with
  list-keys DEVICE
        list a device's keys
  issue-token DEVICE [--ttl 1h]
        issue a platform-signed token: the device's MQTT password
  add-issuer-key (--pem FILE | --jwks FILE) [--not-after RFC3339]
        register keys the tenant signs device tokens with
  list-issuer-keys
        list the keys that verify the tenant's tokens
  revoke --kind device|key|token --id ID [--expires-at RFC3339]
        revoke a device's tokens, a key (device, issuer or platform), or one token
  revocations
        list the revocations in force

Every subcommand takes --url, --api-key and -o table|json. With -o table,
issue-token prints the token alone on its first line, so
  TOKEN=$(flockctl credentials issue-token sensor-7 | head -1)
works in scripts.
`

func credentialsCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, credentialsUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("credentials "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var af apiFlags
	af.register(fs)
	pemFile := fs.String("pem", "", "file holding a PEM public key")
	jwkFile := fs.String("jwk", "", "file holding a public JWK")
	jwksFile := fs.String("jwks", "", "file holding a JWKS document")
	notAfter := fs.String("not-after", "", "the key stops working after this time (RFC 3339)")
	ttl := fs.Duration("ttl", time.Hour, "token lifetime")
	kind := fs.String("kind", "", "what to revoke: device, key or token")
	id := fs.String("id", "", "the device id, key id or token id (jti) to revoke")
	expiresAt := fs.String("expires-at", "", "forget the revocation after this time (RFC 3339), e.g. the token's expiry")
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, credentialsUsage)
			return nil
		}
		return fmt.Errorf("credentials %s: %v: %w", sub, err, errUsage)
	}
	device := func() (string, error) {
		if len(pos) != 1 {
			return "", fmt.Errorf("credentials %s: give exactly one device id: %w", sub, errUsage)
		}
		return pos[0], nil
	}
	noArgs := func() error {
		if len(pos) != 0 {
			return fmt.Errorf("credentials %s: unexpected argument %q: %w", sub, pos[0], errUsage)
		}
		return nil
	}
	parseTime := func(flagName, v string) (*time.Time, error) {
		if v == "" {
			return nil, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, fmt.Errorf("credentials %s: --%s %q: want RFC 3339, e.g. 2027-01-02T15:04:05Z: %w", sub, flagName, v, errUsage)
		}
		return &t, nil
	}
	switch sub {
	case "add-key":
		did, err := device()
		if err != nil {
			return err
		}
		na, err := parseTime("not-after", *notAfter)
		if err != nil {
			return err
		}
		req := apiv1.AddDeviceKeyRequest{NotAfter: na}
		switch {
		case (*pemFile == "") == (*jwkFile == ""):
			return fmt.Errorf("credentials add-key: give one of --pem or --jwk: %w", errUsage)
		case *pemFile != "":
			b, err := os.ReadFile(*pemFile)
			if err != nil {
				return fmt.Errorf("credentials add-key: %w", err)
			}
			req.PublicKeyPEM = string(b)
		default:
			b, err := os.ReadFile(*jwkFile)
			if err != nil {
				return fmt.Errorf("credentials add-key: %w", err)
			}
			if !json.Valid(b) {
				return fmt.Errorf("credentials add-key: %s is not JSON", *jwkFile)
			}
			req.JWK = b
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		k, err := apiv1.Created(c.AddDeviceKeyWithResponse(ctx, did, req))
		if err != nil {
			return fmt.Errorf("credentials add-key: %w", err)
		}
		return printDeviceKeys(stdout, af.output, k)
	case "list-keys":
		did, err := device()
		if err != nil {
			return err
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		keys, err := apiv1.OK(c.ListDeviceKeysWithResponse(ctx, did))
		if err != nil {
			return fmt.Errorf("credentials list-keys: %w", err)
		}
		if af.output == "json" {
			return printJSON(stdout, keys)
		}
		return printDeviceKeys(stdout, af.output, keys.Items...)
	case "issue-token":
		did, err := device()
		if err != nil {
			return err
		}
		if *ttl < time.Minute {
			return fmt.Errorf("credentials issue-token: --ttl %s: at least 1m: %w", *ttl, errUsage)
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		tok, err := apiv1.Created(c.IssueDeviceTokenWithResponse(ctx, did, apiv1.IssueTokenRequest{TTLSeconds: int64(*ttl / time.Second)}))
		if err != nil {
			return fmt.Errorf("credentials issue-token: %w", err)
		}
		if af.output == "json" {
			return printJSON(stdout, tok)
		}
		fmt.Fprintln(stdout, tok.Token)
		fmt.Fprintf(stdout, "Token %s for device %s, signed with %s, valid until %s.\n", tok.TokenID, tok.DeviceID, tok.KeyID, fmtTime(tok.ExpiresAt))
		fmt.Fprintf(stdout, "Connect with client id %s and this token as the password.\n", tok.DeviceID)
		return nil
	case "add-issuer-key":
		if err := noArgs(); err != nil {
			return err
		}
		na, err := parseTime("not-after", *notAfter)
		if err != nil {
			return err
		}
		req := apiv1.AddIssuerKeysRequest{NotAfter: na}
		switch {
		case (*pemFile == "") == (*jwksFile == ""):
			return fmt.Errorf("credentials add-issuer-key: give one of --pem or --jwks: %w", errUsage)
		case *pemFile != "":
			b, err := os.ReadFile(*pemFile)
			if err != nil {
				return fmt.Errorf("credentials add-issuer-key: %w", err)
			}
			req.PublicKeyPEM = string(b)
		default:
			b, err := os.ReadFile(*jwksFile)
			if err != nil {
				return fmt.Errorf("credentials add-issuer-key: %w", err)
			}
			if !json.Valid(b) {
				return fmt.Errorf("credentials add-issuer-key: %s is not JSON", *jwksFile)
			}
			req.JWKS = b
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		keys, err := apiv1.Created(c.AddIssuerKeysWithResponse(ctx, req))
		if err != nil {
			return fmt.Errorf("credentials add-issuer-key: %w", err)
		}
		return printIssuerKeys(stdout, af.output, keys.Items)
	case "list-issuer-keys":
		if err := noArgs(); err != nil {
			return err
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		keys, err := apiv1.OK(c.ListIssuerKeysWithResponse(ctx))
		if err != nil {
			return fmt.Errorf("credentials list-issuer-keys: %w", err)
		}
		return printIssuerKeys(stdout, af.output, keys.Items)
	case "revoke":
		if err := noArgs(); err != nil {
			return err
		}
		if *kind == "" || *id == "" {
			return fmt.Errorf("credentials revoke: --kind and --id are required: %w", errUsage)
		}
		exp, err := parseTime("expires-at", *expiresAt)
		if err != nil {
			return err
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		rv, err := apiv1.Created(c.CreateRevocationWithResponse(ctx, apiv1.CreateRevocationRequest{Kind: apiv1.RevocationKind(*kind), ID: *id, ExpiresAt: exp}))
		if err != nil {
			return fmt.Errorf("credentials revoke: %w", err)
		}
		if af.output == "json" {
			return printJSON(stdout, rv)
		}
		fmt.Fprintf(stdout, "Revoked %s %s at %s; gateways disconnect the sessions it covers within seconds.\n", rv.Kind, rv.ID, fmtTime(rv.RevokedAt))
		return nil
	case "revocations":
		if err := noArgs(); err != nil {
			return err
		}
		c, err := af.client()
		if err != nil {
			return err
		}
		list, err := apiv1.OK(c.ListRevocationsWithResponse(ctx))
		if err != nil {
			return fmt.Errorf("credentials revocations: %w", err)
		}
		if af.output == "json" {
			return printJSON(stdout, list)
		}
		t := newTable(stdout, "KIND", "ID", "REVOKED", "EXPIRES")
		for _, r := range list.Items {
			t.row(r.Kind, r.ID, r.RevokedAt, r.ExpiresAt)
		}
		return t.flush()
	}
	return fmt.Errorf("credentials: unknown subcommand %q: %w", sub, errUsage)
}

func printDeviceKeys(w io.Writer, output string, keys ...apiv1.DeviceKey) error {
	return printList(w, output, keys, []string{"KEY ID", "DEVICE", "ALGORITHM", "NOT AFTER", "CREATED"},
		func(k apiv1.DeviceKey) []any { return []any{k.ID, k.DeviceID, k.Algorithm, k.NotAfter, k.CreatedAt} })
}

func printIssuerKeys(w io.Writer, output string, keys []apiv1.IssuerKey) error {
	if output == "json" {
		return printJSON(w, apiv1.IssuerKeyList{Items: keys})
	}
	t := newTable(w, "KEY ID", "KIND", "ALGORITHM", "SOURCE KID", "NOT AFTER", "CREATED")
	for _, k := range keys {
		t.row(k.ID, k.Kind, k.Algorithm, strings.TrimSpace(k.SourceKID), k.NotAfter, k.CreatedAt)
	}
	return t.flush()
}
