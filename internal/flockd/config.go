package flockd

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/flockmq/flockmq/internal/gctune"
	"github.com/flockmq/flockmq/pkg/telemetry"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/controlplane"
	"github.com/flockmq/flockmq/services/gateway"
)

// Config is flockd's configuration: defaults, then the config file, then
// FLOCKD_* environment variables, then flags.
type Config struct {
	Role            string         `json:"role"`             // all (default), gateway or controlplane
	MQTTAddr        string         `json:"mqtt_addr"`        // MQTT over TCP; "" disables
	WSAddr          string         `json:"ws_addr"`          // MQTT over WebSocket at /mqtt; "" disables
	HTTPAddr        string         `json:"http_addr"`        // control-plane API, /metrics and /healthz; "" disables
	NATSAddr        string         `json:"nats_addr"`        // all role: expose the embedded NATS here too; "" keeps it in-process
	AdminKey        string         `json:"admin_key"`        // operator key for /v1/admin; "" disables the admin API
	Pprof           bool           `json:"pprof"`            // serve Go's /debug/pprof/ profiles on the HTTP listener
	DataDir         string         `json:"data_dir"`         // embedded NATS JetStream storage
	LogFormat       string         `json:"log_format"`       // text or json
	LogLevel        string         `json:"log_level"`        // debug, info, warn, error
	NATSURL         string         `json:"nats_url"`         // external NATS instead of the embedded server
	RedisAddr       string         `json:"redis_addr"`       // Redis session store instead of memory
	GatewayID       string         `json:"gateway_id"`       // unique per gateway process
	AnonymousTenant string         `json:"anonymous_tenant"` // lets clients in without credentials as this tenant
	Gateway         gateway.Config `json:"gateway"`          // protocol limits and extra listeners
	// ControlPlane configures the control plane (roles all and
	// controlplane); its addr and admin_key come from HTTPAddr and AdminKey.
	ControlPlane controlplane.Config `json:"controlplane"`
	// Telemetry configures traces and metrics (OTLP export, /metrics).
	Telemetry telemetry.Config `json:"telemetry"`
	// GC lowers the garbage collector's heap headroom while the process
	// is quiet (internal/gctune, ADR 0009).
	GC gctune.Config `json:"gc"`
	// AnonymousQuotas are the quotas of the anonymous tenant, which has no
	// control-plane record; zero fields take generous development defaults.
	AnonymousQuotas tenant.Quotas `json:"anonymous_quotas"`
}

// anonymousQuotaDefaults keep a development instance from throttling
// benchmarks and test suites pointed at it.
var anonymousQuotaDefaults = tenant.Quotas{
	MaxConnections:            100000,
	MaxMessagesPerSecond:      10000000,
	MaxBytesPerSecond:         1 << 34,
	MaxPayloadBytes:           1 << 20,
	MaxSubscriptionsPerDevice: 10000,
	MaxRetained:               1000000,
	MaxQueuedMessages:         1000000,
	MaxSessionExpirySeconds:   365 * 24 * 3600,
}

func (c Config) hasGateway() bool      { return c.Role == "all" || c.Role == "gateway" }
func (c Config) hasControlPlane() bool { return c.Role == "all" || c.Role == "controlplane" }

func defaults() Config {
	host, _ := os.Hostname()
	id := sanitizeID(host)
	if id == "" {
		id = "gw"
	}
	return Config{
		Role:      "all",
		MQTTAddr:  ":1883",
		WSAddr:    ":8083",
		HTTPAddr:  ":8080",
		LogFormat: "text",
		LogLevel:  "info",
		GatewayID: id,
		Telemetry: telemetry.DefaultConfig("flockd"),
	}
}

// sanitizeID keeps the characters a gateway id may hold.
func sanitizeID(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// loadFile decodes a JSON or YAML config file strictly into c: an unknown
// key is an error that names it.
func loadFile(path string, c *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("flockd: read config: %w", err)
	}
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".yaml" || ext == ".yml" {
		data, err = yaml.YAMLToJSON(data)
		if err != nil {
			return fmt.Errorf("flockd: config %s: %w", path, err)
		}
	}
	data, err = durationsToNanoseconds(data)
	if err != nil {
		return fmt.Errorf("flockd: config %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("flockd: config %s: %w", path, err)
	}
	return nil
}

// durationKeys are the configuration keys whose values are durations. In a
// file they may be written as Go durations ("10s", "1m30s") or as integer
// nanoseconds.
var durationKeys = map[string]bool{
	"cert_reload_interval": true, "check_interval": true, "connect_timeout": true, "dead_after": true, "expiry_sweep_interval": true,
	"handshake_timeout": true, "heartbeat": true, "interval": true, "leeway": true, "lock_ttl": true, "log_interval": true,
	"max_backoff": true, "max_device_token_lifetime": true, "max_queue_age": true,
	"max_token_ttl": true, "metric_interval": true, "overrides_ttl": true,
	"proxy_header_timeout": true, "publish_timeout": true, "ready_timeout": true,
	"report_interval": true, "shutdown_timeout": true, "write_timeout": true,
}

// durationsToNanoseconds rewrites duration strings under durationKeys, at
// any depth of the JSON document, as nanoseconds, which is how the Go
// configuration types decode them. A malformed duration is an error naming
// its key.
func durationsToNanoseconds(data []byte) ([]byte, error) {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	var walk func(v any, path string) error
	walk = func(v any, path string) error {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if str, ok := x.(string); ok && durationKeys[k] {
					d, err := time.ParseDuration(str)
					if err != nil {
						return fmt.Errorf("%s%s: %q is not a duration (write e.g. \"10s\" or \"1m30s\")", path, k, str)
					}
					v[k] = int64(d)
					continue
				}
				if err := walk(x, path+k+"."); err != nil {
					return err
				}
			}
		case []any:
			for i, x := range v {
				if err := walk(x, fmt.Sprintf("%s%d.", path, i)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(doc, ""); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// envVars maps FLOCKD_* variables to fields.
func envVars(c *Config) map[string]*string {
	return map[string]*string{
		"FLOCKD_ROLE":             &c.Role,
		"FLOCKD_MQTT_ADDR":        &c.MQTTAddr,
		"FLOCKD_WS_ADDR":          &c.WSAddr,
		"FLOCKD_HTTP_ADDR":        &c.HTTPAddr,
		"FLOCKD_NATS_ADDR":        &c.NATSAddr,
		"FLOCKD_ADMIN_KEY":        &c.AdminKey,
		"FLOCKD_DATA_DIR":         &c.DataDir,
		"FLOCKD_LOG_FORMAT":       &c.LogFormat,
		"FLOCKD_LOG_LEVEL":        &c.LogLevel,
		"FLOCKD_NATS_URL":         &c.NATSURL,
		"FLOCKD_REDIS_ADDR":       &c.RedisAddr,
		"FLOCKD_GATEWAY_ID":       &c.GatewayID,
		"FLOCKD_ANONYMOUS_TENANT": &c.AnonymousTenant,
	}
}

// parse builds the configuration from args (without the program name) and
// the environment lookup.
func parse(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c := defaults()
	anonSet := false
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		c.Role, args = args[0], args[1:]
	}
	role := c.Role

	fs := flag.NewFlagSet("flockd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (JSON, or YAML by its .yaml/.yml extension)")
	var f Config
	fs.StringVar(&f.MQTTAddr, "mqtt-addr", c.MQTTAddr, "address of the MQTT over TCP listener (empty disables it)")
	fs.StringVar(&f.WSAddr, "ws-addr", c.WSAddr, "address of the MQTT over WebSocket listener, path /mqtt (empty disables it)")
	fs.StringVar(&f.HTTPAddr, "http-addr", c.HTTPAddr, "address of the HTTP listener: control-plane API, /metrics, /healthz (empty disables it)")
	fs.StringVar(&f.NATSAddr, "nats-addr", "", "all role: also expose the embedded NATS server on this address, so other flockd processes can join with --nats-url")
	fs.StringVar(&f.AdminKey, "admin-key", "", "operator key for the /v1/admin API, at least 32 characters (empty disables it)")
	pprof := fs.Bool("pprof", false, "serve Go's /debug/pprof/ profiles on the HTTP listener (for diagnosing; do not expose)")
	fs.StringVar(&f.DataDir, "data-dir", "", "directory of the embedded NATS JetStream storage (default: a temporary directory)")
	fs.StringVar(&f.LogFormat, "log-format", c.LogFormat, "log format: text or json")
	fs.StringVar(&f.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&f.NATSURL, "nats-url", "", "URL of an external NATS server with JetStream (default: embedded server)")
	fs.StringVar(&f.RedisAddr, "redis-addr", "", "host:port of Redis for sessions (default: in memory)")
	fs.StringVar(&f.GatewayID, "gateway-id", c.GatewayID, "unique id of this gateway among those sharing NATS")
	fs.StringVar(&f.AnonymousTenant, "anonymous-tenant", "", "let clients without credentials in as this tenant (all-in-one default: dev)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: flockd [all|gateway|controlplane] [flags]\n\nRoles:\n  all           everything in one process: embedded NATS, in-memory sessions, gateway, control plane (default)\n  gateway       the MQTT gateway only, against --nats-url\n  controlplane  the control-plane HTTP API only, against --nats-url\n\nEvery flag can also be set as FLOCKD_<NAME> (e.g. FLOCKD_MQTT_ADDR).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("flockd: unexpected argument %q", fs.Arg(0))
	}
	if *configPath == "" {
		*configPath = getenv("FLOCKD_CONFIG")
	}
	if *configPath != "" {
		if err := loadFile(*configPath, &c); err != nil {
			return c, err
		}
		if c.AnonymousTenant != "" {
			anonSet = true
		}
	}
	for name, p := range envVars(&c) {
		if v, ok := lookup(getenv, name); ok {
			*p = v
			if name == "FLOCKD_ANONYMOUS_TENANT" {
				anonSet = true
			}
		}
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	apply := map[string]struct{ dst, src *string }{
		"mqtt-addr": {&c.MQTTAddr, &f.MQTTAddr}, "ws-addr": {&c.WSAddr, &f.WSAddr},
		"http-addr": {&c.HTTPAddr, &f.HTTPAddr}, "nats-addr": {&c.NATSAddr, &f.NATSAddr},
		"admin-key": {&c.AdminKey, &f.AdminKey},
		"data-dir":  {&c.DataDir, &f.DataDir}, "log-format": {&c.LogFormat, &f.LogFormat},
		"log-level": {&c.LogLevel, &f.LogLevel}, "nats-url": {&c.NATSURL, &f.NATSURL},
		"redis-addr": {&c.RedisAddr, &f.RedisAddr}, "gateway-id": {&c.GatewayID, &f.GatewayID},
		"anonymous-tenant": {&c.AnonymousTenant, &f.AnonymousTenant},
	}
	if *pprof {
		c.Pprof = true
	}
	for name, a := range apply {
		if set[name] {
			*a.dst = *a.src
			if name == "anonymous-tenant" {
				anonSet = true
			}
		}
	}
	if role != "all" {
		c.Role = role
	}
	if c.Role == "all" && !anonSet {
		c.AnonymousTenant = "dev"
	}
	return c, c.validate()
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func (c Config) validate() error {
	switch c.Role {
	case "all", "gateway", "controlplane":
	default:
		return fmt.Errorf("flockd: unknown role %q (want all, gateway or controlplane)", c.Role)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("flockd: log_format: %q is not text or json", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.Role != "all" && c.NATSURL == "" {
		return fmt.Errorf("flockd: the %s role needs --nats-url (the all role embeds NATS)", c.Role)
	}
	if c.NATSAddr != "" && c.NATSURL != "" {
		return errors.New("flockd: nats_addr exposes the embedded NATS server and cannot be combined with nats_url")
	}
	if c.hasGateway() && c.MQTTAddr == "" && c.WSAddr == "" && len(c.Gateway.Listeners) == 0 {
		return errors.New("flockd: no listener: set --mqtt-addr or --ws-addr")
	}
	if c.Role == "controlplane" && c.HTTPAddr == "" {
		return errors.New("flockd: the controlplane role needs --http-addr")
	}
	if c.AdminKey != "" && len(c.AdminKey) < 32 {
		return errors.New("flockd: admin_key: must be at least 32 characters")
	}
	if err := c.Telemetry.Validate(); err != nil {
		return fmt.Errorf("flockd: %w", err)
	}
	if err := c.GC.Validate(); err != nil {
		return fmt.Errorf("flockd: gc: %w", err)
	}
	if err := c.AnonymousQuotas.Validate(); err != nil {
		return fmt.Errorf("flockd: anonymous_quotas: %w", err)
	}
	if c.hasGateway() {
		// The gateway section is checked now, before anything starts,
		// rather than when the gateway is built.
		g := c.Gateway
		g.GatewayID = c.GatewayID
		if err := g.Validate(); err != nil {
			return fmt.Errorf("flockd: %w", err)
		}
	}
	return nil
}
