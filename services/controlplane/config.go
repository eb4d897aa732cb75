package controlplane

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/flockmq/flockmq/pkg/presence"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/controlplane/internal/httpapi"
	"github.com/flockmq/flockmq/services/controlplane/internal/ratelimit"
)

// RateLimit is a token bucket: Rate requests per second on average, bursts
// of up to Burst. A zero Rate means no limit.
type RateLimit = httpapi.Limit

// Config configures the control plane. The zero value, after defaults, is a
// server on :8080 with the admin API disabled.
type Config struct {
	// Addr is the listen address of Run; default ":8080".
	Addr string `json:"addr"`
	// AdminKey authenticates the operator on /v1/admin (as a bearer token).
	// Empty disables the admin API. At least 32 characters.
	AdminKey string `json:"admin_key"`
	// Audience is the aud claim of issued device tokens; default "flockmq".
	// Gateways must expect the same value.
	Audience string `json:"audience"`
	// Issuer is the iss claim of issued tokens; empty omits the claim.
	Issuer string `json:"issuer"`
	// MaxTokenTTL bounds ttl_seconds of issued tokens; default 24h.
	MaxTokenTTL time.Duration `json:"max_token_ttl"`
	// SignupRateLimit limits signups per remote IP; default 10 per hour,
	// bursts of 5.
	SignupRateLimit RateLimit `json:"signup_rate_limit"`
	// IPRateLimit limits every request per remote IP; default 100/s,
	// bursts of 200.
	IPRateLimit RateLimit `json:"ip_rate_limit"`
	// APIKeyRateLimit limits authenticated requests per API key; default
	// 50/s, bursts of 100. It holds across every control-plane instance
	// sharing the NATS system (see RatesStream).
	APIKeyRateLimit RateLimit `json:"api_key_rate_limit"`
	// TenantRateLimit limits authenticated requests per tenant, all its API
	// keys together; default 100/s, bursts of 200. It also holds across
	// instances.
	TenantRateLimit RateLimit `json:"tenant_rate_limit"`
	// RatesStream names the JetStream stream in which instances share the
	// API key and tenant rate limits (package ratelimit); default
	// FLOCK_RATES. Each instance first applies the limits on its own, so
	// a flood from one client never reaches NATS; the shared count then
	// holds them across instances. The IP and signup limits are per
	// instance (docs/adr/0005-shared-rate-limits.md). Sharing needs
	// nats-server 2.12 or later; on an older server the limits are per
	// instance and New logs a warning.
	RatesStream string `json:"rates_stream"`
	// BodyLimit is the largest request body in bytes; default 1 MiB.
	BodyLimit int64 `json:"body_limit"`
	// BulkBodyLimit is the largest body of POST /v1/devices:bulk; default 16 MiB.
	BulkBodyLimit int64 `json:"bulk_body_limit"`
	// MaxBulk is the most devices per bulk request; default 10000.
	MaxBulk int `json:"max_bulk"`
	// DefaultQuotas are the platform's default tenant quotas; zero fields
	// take tenant.DefaultQuotas.
	DefaultQuotas tenant.Quotas `json:"default_quotas"`
	// ConfigBucket and SecretsBucket name the KV buckets; defaults
	// tenant.ConfigBucket and tenant.SecretsBucket.
	ConfigBucket  string `json:"config_bucket"`
	SecretsBucket string `json:"secrets_bucket"`
	// PresenceBucket is the KV bucket the gateways report device presence
	// in (package presence); default presence.DefaultBucket. The control
	// plane only reads it, and creates it if no gateway has yet.
	PresenceBucket string `json:"presence_bucket"`
	// Replicas of buckets the control plane creates; default 1 (use 3 on a
	// clustered NATS).
	Replicas int `json:"replicas"`
	// ShutdownTimeout bounds the graceful stop of Run; default 10s.
	ShutdownTimeout time.Duration `json:"shutdown_timeout"`
	// TLSCertFile and TLSKeyFile, when both set, make Run serve HTTPS
	// (PEM files; the certificate file may hold the chain). Without them Run
	// serves plain HTTP, for use behind a TLS-terminating load balancer.
	TLSCertFile string `json:"tls_cert_file"`
	TLSKeyFile  string `json:"tls_key_file"`
	// TrustedProxies lists the addresses or CIDR prefixes of load balancers
	// in front of the control plane ("10.0.0.0/8", "192.0.2.7"). For
	// requests from them, the client address used by the per-IP rate limits
	// and the logs comes from X-Forwarded-For. Empty: the peer address.
	TrustedProxies []string `json:"trusted_proxies"`
}

// trustedProxies parses TrustedProxies; Validate reports its errors.
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range c.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("controlplane: config: trusted_proxies[%d]: %q is neither an address nor a CIDR prefix", i, s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	if c.Audience == "" {
		c.Audience = "flockmq"
	}
	if c.MaxTokenTTL == 0 {
		c.MaxTokenTTL = 24 * time.Hour
	}
	if c.SignupRateLimit == (RateLimit{}) {
		c.SignupRateLimit = RateLimit{Rate: 10.0 / 3600, Burst: 5}
	}
	if c.IPRateLimit == (RateLimit{}) {
		c.IPRateLimit = RateLimit{Rate: 100, Burst: 200}
	}
	if c.APIKeyRateLimit == (RateLimit{}) {
		c.APIKeyRateLimit = RateLimit{Rate: 50, Burst: 100}
	}
	if c.TenantRateLimit == (RateLimit{}) {
		c.TenantRateLimit = RateLimit{Rate: 100, Burst: 200}
	}
	if c.RatesStream == "" {
		c.RatesStream = ratelimit.DefaultStream
	}
	if c.BodyLimit == 0 {
		c.BodyLimit = 1 << 20
	}
	if c.BulkBodyLimit == 0 {
		c.BulkBodyLimit = 16 << 20
	}
	if c.MaxBulk == 0 {
		c.MaxBulk = 10000
	}
	c.DefaultQuotas = c.DefaultQuotas.WithDefaults(tenant.DefaultQuotas)
	if c.ConfigBucket == "" {
		c.ConfigBucket = tenant.ConfigBucket
	}
	if c.SecretsBucket == "" {
		c.SecretsBucket = tenant.SecretsBucket
	}
	if c.PresenceBucket == "" {
		c.PresenceBucket = presence.DefaultBucket
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	return c
}

// Validate reports the first invalid field, by its JSON name.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("controlplane: config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.AdminKey != "" && len(c.AdminKey) < 32 {
		bad("admin_key", "is %d characters; use at least 32 random characters, or leave it empty to disable the admin API", len(c.AdminKey))
	}
	if c.MaxTokenTTL < time.Minute {
		bad("max_token_ttl", "%s is shorter than a minute", c.MaxTokenTTL)
	}
	for name, l := range map[string]RateLimit{"signup_rate_limit": c.SignupRateLimit, "ip_rate_limit": c.IPRateLimit,
		"api_key_rate_limit": c.APIKeyRateLimit, "tenant_rate_limit": c.TenantRateLimit} {
		if l.Rate < 0 || l.Burst < 0 {
			bad(name, "rate and burst must not be negative")
		}
	}
	for name, l := range map[string]RateLimit{"api_key_rate_limit": c.APIKeyRateLimit, "tenant_rate_limit": c.TenantRateLimit} {
		if w := ratelimit.WindowFor(l.Rate, l.Burst); w.Period > ratelimit.MaxPeriod {
			bad(name, "burst/rate is %s; shared limits count in windows of burst/rate, at most %s: raise the rate or lower the burst",
				w.Period, ratelimit.MaxPeriod)
		}
	}
	if err := (ratelimit.Config{Stream: c.RatesStream}).Validate(); err != nil {
		bad("rates_stream", "%q is not a valid stream name (A-Z a-z 0-9 _ -)", c.RatesStream)
	}
	if c.BodyLimit < 1024 {
		bad("body_limit", "%d bytes is too small (at least 1024)", c.BodyLimit)
	}
	if c.BulkBodyLimit < c.BodyLimit {
		bad("bulk_body_limit", "must be at least body_limit")
	}
	if c.MaxBulk < 1 || c.MaxBulk > 100000 {
		bad("max_bulk", "%d is outside 1..100000", c.MaxBulk)
	}
	if err := c.DefaultQuotas.Validate(); err != nil {
		bad("default_quotas", "%v", err)
	}
	if c.ConfigBucket == c.SecretsBucket {
		bad("secrets_bucket", "must differ from config_bucket: gateways read the config bucket")
	}
	if err := (presence.Config{Bucket: c.PresenceBucket}).Validate(); err != nil {
		bad("presence_bucket", "%q is not a valid bucket name (A-Z a-z 0-9 _ -)", c.PresenceBucket)
	}
	if c.PresenceBucket == c.ConfigBucket || c.PresenceBucket == c.SecretsBucket {
		bad("presence_bucket", "must differ from config_bucket and secrets_bucket")
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		bad("replicas", "%d is outside 1..5", c.Replicas)
	}
	if c.ShutdownTimeout < 0 {
		bad("shutdown_timeout", "must not be negative")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		bad("tls_cert_file", "tls_cert_file and tls_key_file must be set together")
	}
	if _, err := c.trustedProxies(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
