package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
)

func init() {
	register(command{
		name:    "devices",
		summary: "create, list, get, update, delete and import (CSV) devices; show their connection status",
		run: func(ctx context.Context, args []string) error {
			return devicesCmd(ctx, args, os.Stdin, os.Stdout)
		},
	})
}

const devicesUsage = `usage: flockctl devices <subcommand> [flags]

  create ID [--tag k=v]... [--meta k=v]... [--disabled]
  list [--limit N] [--prefix P] [--tag k=v]... [--all] [--status]
  get ID
  status ID              is it connected, on which gateway, since when,
                         and why did it last disconnect
  update ID [--tag k=v]... [--meta k=v]... [--disable | --enable]
                         (--tag/--meta replace all tags/metadata)
  delete ID
  import FILE.csv        (- reads standard input)

CSV files have a header row: an "id" column, and "tag:NAME" and
"meta:NAME" columns for tags and metadata, e.g.
  id,tag:site,meta:serial
  sensor-1,berlin,SN-001

Every subcommand takes --url, --api-key and -o table|json.
`

// kvFlag collects repeated k=v (or k:v) flags.
type kvFlag map[string]string

func (m kvFlag) String() string { return fmtMap(m) }

func (m kvFlag) Set(s string) error {
	i := strings.IndexAny(s, "=:")
	if i <= 0 {
		return fmt.Errorf("%q: want name=value", s)
	}
	m[s[:i]] = s[i+1:]
	return nil
}

func devicesCmd(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, devicesUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("devices "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var af apiFlags
	af.register(fs)
	tags, meta := kvFlag{}, kvFlag{}
	fs.Var(tags, "tag", "tag name=value (repeatable)")
	fs.Var(meta, "meta", "metadata name=value (repeatable)")
	disabled := fs.Bool("disabled", false, "create the device disabled")
	disable := fs.Bool("disable", false, "disable the device")
	enable := fs.Bool("enable", false, "enable the device")
	limit := fs.Int("limit", 0, "page size (1-1000)")
	prefix := fs.String("prefix", "", "only ids beginning with this")
	all := fs.Bool("all", false, "follow every page")
	withStatus := fs.Bool("status", false, "list: add each device's connection status")
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, devicesUsage)
			return nil
		}
		return fmt.Errorf("devices %s: %v: %w", sub, err, errUsage)
	}
	needID := func() (string, error) {
		if len(pos) != 1 {
			return "", fmt.Errorf("devices %s: give exactly one device id: %w", sub, errUsage)
		}
		return pos[0], nil
	}
	var c *apiv1.ClientWithResponses
	connect := func() error {
		var err error
		c, err = af.client()
		return err
	}
	switch sub {
	case "create":
		id, err := needID()
		if err != nil {
			return err
		}
		if err := connect(); err != nil {
			return err
		}
		d, err := apiv1.Created(c.CreateDeviceWithResponse(ctx, apiv1.CreateDeviceRequest{ID: id, Tags: tags, Metadata: meta, Disabled: *disabled}))
		if err != nil {
			return fmt.Errorf("devices create: %w", err)
		}
		return printDevices(stdout, af.output, d)
	case "get":
		id, err := needID()
		if err != nil {
			return err
		}
		if err := connect(); err != nil {
			return err
		}
		d, err := apiv1.OK(c.GetDeviceWithResponse(ctx, id))
		if err != nil {
			return fmt.Errorf("devices get: %w", err)
		}
		return printDevices(stdout, af.output, d)
	case "status":
		id, err := needID()
		if err != nil {
			return err
		}
		if err := connect(); err != nil {
			return err
		}
		st, err := apiv1.OK(c.GetDeviceStatusWithResponse(ctx, id))
		if err != nil {
			return fmt.Errorf("devices status: %w", err)
		}
		if af.output == "json" {
			return printJSON(stdout, st)
		}
		return printStatus(stdout, st, time.Now())
	case "update":
		id, err := needID()
		if err != nil {
			return err
		}
		if *disable && *enable {
			return fmt.Errorf("devices update: --disable and --enable exclude each other: %w", errUsage)
		}
		var req apiv1.UpdateDeviceRequest
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "tag":
				m := map[string]string(tags)
				req.Tags = &m
			case "meta":
				m := map[string]string(meta)
				req.Metadata = &m
			case "disable", "enable":
				v := *disable
				req.Disabled = &v
			}
		})
		if req.Tags == nil && req.Metadata == nil && req.Disabled == nil {
			return fmt.Errorf("devices update: nothing to change; give --tag, --meta, --disable or --enable: %w", errUsage)
		}
		if err := connect(); err != nil {
			return err
		}
		d, err := apiv1.OK(c.UpdateDeviceWithResponse(ctx, id, req))
		if err != nil {
			return fmt.Errorf("devices update: %w", err)
		}
		return printDevices(stdout, af.output, d)
	case "delete":
		id, err := needID()
		if err != nil {
			return err
		}
		if err := connect(); err != nil {
			return err
		}
		if err := apiv1.NoContent(c.DeleteDeviceWithResponse(ctx, id)); err != nil {
			return fmt.Errorf("devices delete: %w", err)
		}
		if af.output == "json" {
			return printJSON(stdout, map[string]any{"id": id, "deleted": true})
		}
		fmt.Fprintf(stdout, "Deleted device %s; its keys were deleted and its tokens revoked.\n", id)
		return nil
	case "list":
		if len(pos) != 0 {
			return fmt.Errorf("devices list: unexpected argument %q: %w", pos[0], errUsage)
		}
		if err := connect(); err != nil {
			return err
		}
		params := apiv1.ListDevicesParams{}
		if *limit != 0 {
			params.Limit = limit
		}
		if *prefix != "" {
			params.Prefix = prefix
		}
		for _, k := range slices.Sorted(maps.Keys(tags)) {
			params.Tag = append(params.Tag, k+":"+tags[k])
		}
		if *withStatus {
			params.Include = new(apiv1.ListDevicesParamsIncludeStatus)
		}
		var items []apiv1.Device
		next := ""
		if *all {
			for d, err := range c.Devices(ctx, params) {
				if err != nil {
					return fmt.Errorf("devices list: %w", err)
				}
				items = append(items, d)
			}
		} else {
			page, err := apiv1.OK(c.ListDevicesWithResponse(ctx, &params))
			if err != nil {
				return fmt.Errorf("devices list: %w", err)
			}
			items, next = page.Items, page.NextCursor
		}
		if af.output == "json" {
			return printJSON(stdout, apiv1.DeviceList{Items: items, NextCursor: next})
		}
		if *withStatus {
			err = printDeviceStatuses(stdout, time.Now(), items...)
		} else {
			err = printDevices(stdout, "table", items...)
		}
		if err != nil {
			return err
		}
		if next != "" {
			fmt.Fprintln(stdout, "More devices follow; add --all to list every page.")
		}
		return nil
	case "import":
		if len(pos) != 1 {
			return fmt.Errorf("devices import: give one CSV file (or - for standard input): %w", errUsage)
		}
		if err := connect(); err != nil {
			return err
		}
		return importDevices(ctx, c, pos[0], stdin, stdout, af.output)
	}
	return fmt.Errorf("devices: unknown subcommand %q: %w", sub, errUsage)
}

func printDevices(w io.Writer, output string, ds ...apiv1.Device) error {
	return printList(w, output, ds, []string{"ID", "DISABLED", "TAGS", "METADATA", "CREATED"},
		func(d apiv1.Device) []any { return []any{d.ID, d.Disabled, d.Tags, d.Metadata, d.CreatedAt} })
}

// printDeviceStatuses writes a device table with connection columns.
func printDeviceStatuses(w io.Writer, now time.Time, ds ...apiv1.Device) error {
	t := newTable(w, "ID", "DISABLED", "STATUS", "SINCE", "GATEWAY", "TAGS")
	for _, d := range ds {
		st := apiv1.DeviceStatus{DeviceID: d.ID}
		if d.Status != nil {
			st = *d.Status
		}
		state, since := statusWord(st), "-"
		if at := statusSince(st); at != nil {
			since = fmtTime(*at) + " (" + ago(now, *at) + ")"
		}
		gw := ""
		if n := len(st.Connections); n > 0 {
			gw = st.Connections[n-1].Gateway
		}
		t.row(d.ID, d.Disabled, state, since, gw, d.Tags)
	}
	return t.flush()
}

// statusWord is "connected", "disconnected" or "never connected".
func statusWord(st apiv1.DeviceStatus) string {
	switch {
	case st.Connected:
		return "connected"
	case st.ConnectedAt == nil && st.DisconnectedAt == nil:
		return "never connected"
	default:
		return "disconnected"
	}
}

// statusSince is when the device's current state began, if known.
func statusSince(st apiv1.DeviceStatus) *time.Time {
	if st.Connected {
		if n := len(st.Connections); n > 0 {
			return &st.Connections[n-1].ConnectedAt
		}
		return st.ConnectedAt
	}
	return st.DisconnectedAt
}

// printStatus writes a device's status as sentences, e.g.
//
//	sensor-7  connected  since 2026-11-25 10:03:04 UTC (12m ago) on gateway gw-1 from 10.1.2.3:5411, MQTT 5
//	sensor-7  disconnected  since 2026-11-25 10:15:04 UTC (3s ago) (last reason: keepalive of 60s expired)
//
// A device with several connections gets one line for each older one.
func printStatus(w io.Writer, st apiv1.DeviceStatus, now time.Time) error {
	line := st.DeviceID + "  " + statusWord(st)
	if at := statusSince(st); at != nil {
		line += "  since " + fmtClock(*at) + " (" + ago(now, *at) + ")"
	}
	n := len(st.Connections)
	switch {
	case st.Connected && n > 0:
		line += connDetail(st.Connections[n-1], st.DeviceID)
	case !st.Connected && st.LastDisconnectReason != "":
		line += " (last reason: " + st.LastDisconnectReason + ")"
	}
	if _, err := fmt.Fprintln(w, line); err != nil {
		return err
	}
	for i := n - 2; i >= 0; i-- {
		c := st.Connections[i]
		if _, err := fmt.Fprintf(w, "  also %s since %s (%s)%s\n", c.ClientID, fmtClock(c.ConnectedAt), ago(now, c.ConnectedAt), connDetail(c, "")); err != nil {
			return err
		}
	}
	return nil
}

// connDetail is " on gateway G from ADDR, MQTT V", naming the client id
// when it is not the device id.
func connDetail(c apiv1.DeviceConnection, did string) string {
	s := ""
	if did != "" && c.ClientID != did {
		s += " as " + c.ClientID
	}
	s += " on gateway " + c.Gateway
	if c.RemoteAddr != "" {
		s += " from " + c.RemoteAddr
	}
	if v := mqttVersion(c.Protocol); v != "" {
		s += ", " + v
	}
	return s
}

// mqttVersion names an MQTT protocol level.
func mqttVersion(level int) string {
	switch level {
	case 3:
		return "MQTT 3.1"
	case 4:
		return "MQTT 3.1.1"
	case 5:
		return "MQTT 5"
	}
	return ""
}

func fmtClock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") }

// ago says how long before now t was, coarsely: "45s ago", "12m ago",
// "3h05m ago", "4d ago"; a t after now (clock skew) is "just now".
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
}

// importBatch is the most devices the API takes per bulk request.
const importBatch = 10000

// importDevices reads a CSV file and creates its devices in bulk requests.
func importDevices(ctx context.Context, c *apiv1.ClientWithResponses, path string, stdin io.Reader, stdout io.Writer, output string) error {
	in := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("devices import: %w", err)
		}
		defer f.Close()
		in = f
	}
	r := csv.NewReader(in)
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("devices import: %s: read the header row: %w", path, err)
	}
	idCol := -1
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		switch {
		case h == "id":
			idCol = i
		case strings.HasPrefix(h, "tag:") && len(h) > 4, strings.HasPrefix(h, "meta:") && len(h) > 5:
		default:
			return fmt.Errorf("devices import: %s: column %d is %q; columns are id, tag:NAME and meta:NAME", path, i+1, h)
		}
	}
	if idCol < 0 {
		return fmt.Errorf("devices import: %s: the header has no id column", path)
	}
	var (
		batch    []apiv1.CreateDeviceRequest
		lines    []int // CSV line of each batch entry
		created  int
		failures []importFailure
		total    int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		resp, err := apiv1.Created(c.BulkCreateDevicesWithResponse(ctx, apiv1.BulkCreateDevicesRequest{Devices: batch}))
		if err != nil {
			return fmt.Errorf("devices import: %s: lines %d-%d: %w", path, lines[0], lines[len(lines)-1], err)
		}
		created += resp.Created
		for i, it := range resp.Items {
			if it.Status != 201 && it.Error != nil {
				failures = append(failures, importFailure{Line: lines[i], ID: it.ID, Status: it.Status, Message: it.Error.Message})
			}
		}
		batch, lines = batch[:0], lines[:0]
		return nil
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("devices import: %s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		d := apiv1.CreateDeviceRequest{ID: strings.TrimSpace(rec[idCol])}
		for i, v := range rec {
			h := header[i]
			if v == "" {
				continue
			}
			if name, ok := strings.CutPrefix(h, "tag:"); ok {
				if d.Tags == nil {
					d.Tags = map[string]string{}
				}
				d.Tags[name] = v
			} else if name, ok := strings.CutPrefix(h, "meta:"); ok {
				if d.Metadata == nil {
					d.Metadata = map[string]string{}
				}
				d.Metadata[name] = v
			}
		}
		batch = append(batch, d)
		lines = append(lines, line)
		total++
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if output == "json" {
		if err := printJSON(stdout, importResult{Total: total, Created: created, Failed: failures}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "Imported %d of %d devices from %s.\n", created, total, path)
	}
	if len(failures) > 0 && output != "json" {
		t := newTable(stdout, "LINE", "ID", "STATUS", "PROBLEM")
		for _, f := range failures {
			t.row(f.Line, f.ID, f.Status, f.Message)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("devices import: %d of %d devices were not created", len(failures), total)
	}
	return nil
}

type importFailure struct {
	Line    int    `json:"line"`
	ID      string `json:"id"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

type importResult struct {
	Total   int             `json:"total"`
	Created int             `json:"created"`
	Failed  []importFailure `json:"failed"`
}
