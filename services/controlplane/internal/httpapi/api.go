package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/controlplane/internal/credentials"
	"github.com/flockmq/flockmq/services/controlplane/internal/ratelimit"
	"github.com/flockmq/flockmq/services/controlplane/internal/store"
)

// Config configures the API. The service's Config fills it in.
type Config struct {
	Audience      string        // aud of issued tokens
	Issuer        string        // iss of issued tokens; omitted when empty
	AdminKey      string        // operator key for /v1/admin; empty disables it
	MaxTokenTTL   time.Duration // longest ttl_seconds accepted
	BodyLimit     int64         // bytes per request body
	BulkBodyLimit int64         // bytes per bulk request body
	MaxBulk       int           // devices per bulk request
	SignupLimit   Limit         // per remote IP
	IPLimit       Limit         // every request, per remote IP
	APIKeyLimit   Limit         // authenticated requests, per API key
	TenantLimit   Limit         // authenticated requests, per tenant (all its API keys)
	Defaults      tenant.Quotas // platform default quotas
	// TrustedProxies are the load balancers whose X-Forwarded-For is
	// believed when attributing requests to client addresses.
	TrustedProxies []netip.Prefix
	// Presence answers device status queries; required.
	Presence Presence
	// Shared applies APIKeyLimit and TenantLimit across every control-plane
	// instance, after this instance's own token buckets let a request
	// through; nil applies them per instance only.
	Shared SharedLimits
}

// API serves the control-plane HTTP API.
type API struct {
	cfg       Config
	st        *store.Store
	log       *slog.Logger
	now       func() time.Time
	adminHash [sha256.Size]byte

	signup *limiters
	ip     *limiters
	key    *limiters
	tenant *limiters

	// keyWindow and tenantWindow are APIKeyLimit and TenantLimit as the
	// fixed windows Shared counts in.
	keyWindow, tenantWindow ratelimit.Window
	// sharedWarnedAt is when the last warning that Shared failed was
	// logged (Unix nanoseconds), so a NATS outage logs a line every
	// sharedWarnEvery, not one per request.
	sharedWarnedAt atomic.Int64

	handler http.Handler
}

// New returns the API over st.
func New(cfg Config, st *store.Store, log *slog.Logger, now func() time.Time) *API {
	a := &API{
		cfg:    cfg,
		st:     st,
		log:    log,
		now:    now,
		signup: newLimiters(cfg.SignupLimit, now),
		ip:     newLimiters(cfg.IPLimit, now),
		key:    newLimiters(cfg.APIKeyLimit, now),
		tenant: newLimiters(cfg.TenantLimit, now),

		keyWindow:    ratelimit.WindowFor(cfg.APIKeyLimit.Rate, cfg.APIKeyLimit.Burst),
		tenantWindow: ratelimit.WindowFor(cfg.TenantLimit.Rate, cfg.TenantLimit.Burst),
	}
	if cfg.AdminKey != "" {
		a.adminHash = sha256.Sum256([]byte(cfg.AdminKey))
	}
	a.handler = a.routes()
	return a
}

// Handler returns the root handler.
func (a *API) Handler() http.Handler { return a.handler }

// Routes lists every route the API serves as "METHOD /path" patterns, in
// the syntax of net/http.ServeMux (a test compares it with openapi.yaml).
func Routes() []string {
	var out []string
	for _, r := range (&API{}).table() {
		out = append(out, r.pattern)
	}
	return out
}

type route struct {
	pattern string
	auth    authKind
	h       func(a *API) handlerFunc
}

type authKind int

const (
	authNone authKind = iota
	authTenant
	authAdmin
)

func (a *API) table() []route {
	return []route{
		{"GET /healthz", authNone, func(a *API) handlerFunc { return a.healthz }},
		{"GET /readyz", authNone, func(a *API) handlerFunc { return a.readyz }},
		{"POST /v1/signup", authNone, func(a *API) handlerFunc { return a.createSignup }},
		{"GET /v1/tenant", authTenant, func(a *API) handlerFunc { return a.getTenant }},
		{"GET /v1/tenant/quotas", authTenant, func(a *API) handlerFunc { return a.getQuotas }},
		{"POST /v1/api-keys", authTenant, func(a *API) handlerFunc { return a.createAPIKey }},
		{"GET /v1/api-keys", authTenant, func(a *API) handlerFunc { return a.listAPIKeys }},
		{"DELETE /v1/api-keys/{id}", authTenant, func(a *API) handlerFunc { return a.deleteAPIKey }},
		{"POST /v1/devices", authTenant, func(a *API) handlerFunc { return a.createDevice }},
		{"GET /v1/devices", authTenant, func(a *API) handlerFunc { return a.listDevices }},
		{"POST /v1/devices:bulk", authTenant, func(a *API) handlerFunc { return a.bulkCreateDevices }},
		{"GET /v1/devices/{id}", authTenant, func(a *API) handlerFunc { return a.getDevice }},
		{"PATCH /v1/devices/{id}", authTenant, func(a *API) handlerFunc { return a.updateDevice }},
		{"DELETE /v1/devices/{id}", authTenant, func(a *API) handlerFunc { return a.deleteDevice }},
		{"GET /v1/devices/{id}/status", authTenant, func(a *API) handlerFunc { return a.getDeviceStatus }},
		{"POST /v1/devices/{id}/keys", authTenant, func(a *API) handlerFunc { return a.addDeviceKey }},
		{"GET /v1/devices/{id}/keys", authTenant, func(a *API) handlerFunc { return a.listDeviceKeys }},
		{"DELETE /v1/devices/{id}/keys/{kid}", authTenant, func(a *API) handlerFunc { return a.deleteDeviceKey }},
		{"POST /v1/devices/{id}/tokens", authTenant, func(a *API) handlerFunc { return a.issueToken }},
		{"POST /v1/issuer-keys", authTenant, func(a *API) handlerFunc { return a.addIssuerKeys }},
		{"GET /v1/issuer-keys", authTenant, func(a *API) handlerFunc { return a.listIssuerKeys }},
		{"DELETE /v1/issuer-keys/{kid}", authTenant, func(a *API) handlerFunc { return a.deleteIssuerKey }},
		{"POST /v1/revocations", authTenant, func(a *API) handlerFunc { return a.createRevocation }},
		{"GET /v1/revocations", authTenant, func(a *API) handlerFunc { return a.listRevocations }},
		{"GET /v1/admin/tenants", authAdmin, func(a *API) handlerFunc { return a.adminListTenants }},
		{"PATCH /v1/admin/tenants/{tid}", authAdmin, func(a *API) handlerFunc { return a.adminUpdateTenant }},
		{"PUT /v1/admin/tenants/{tid}/quotas", authAdmin, func(a *API) handlerFunc { return a.adminPutQuotas }},
	}
}

func (a *API) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range a.table() {
		h := a.serve(rt.h(a))
		switch rt.auth {
		case authTenant:
			h = a.authTenant(h)
		case authAdmin:
			h = a.authAdmin(h)
		}
		mux.Handle(rt.pattern, h)
	}
	return a.recoverer(a.accessLog(a.limitIP(a.jsonFallback(mux))))
}

// jsonFallback answers the mux's own 404 and 405 with JSON errors.
func (a *API) jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		fw := &fallbackWriter{ResponseWriter: w}
		mux.ServeHTTP(fw, r)
		if !fw.wrote {
			return
		}
		switch fw.status {
		case http.StatusMethodNotAllowed:
			writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: apiv1.CodeMethodNotAllowed,
				Public: "method " + r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + w.Header().Get("Allow")})
		default:
			writeError(w, &Error{Status: http.StatusNotFound, Code: apiv1.CodeNotFound,
				Public: "no such endpoint " + r.Method + " " + r.URL.Path + "; see the API reference (openapi.yaml)"})
		}
	})
}

// fallbackWriter swallows the mux's plain-text 404/405 so a JSON one can
// be written instead; it keeps the headers (Allow) the mux set.
type fallbackWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (f *fallbackWriter) WriteHeader(code int) {
	if !f.wrote {
		f.status, f.wrote = code, true
	}
}

func (f *fallbackWriter) Write(p []byte) (int, error) {
	if !f.wrote {
		f.WriteHeader(http.StatusOK)
	}
	return len(p), nil
}

// request-scoped notes for the access log.
type noteKey struct{}

type note struct {
	mu       sync.Mutex
	tenantID string // guarded by mu
	apiKey   string // guarded by mu
	errCode  string // guarded by mu
	errText  string // guarded by mu
}

func noteOf(r *http.Request) *note {
	n, _ := r.Context().Value(noteKey{}).(*note)
	return n
}

func setNote(r *http.Request, e *Error) {
	if n := noteOf(r); n != nil {
		n.mu.Lock()
		n.errCode, n.errText = string(e.Code), e.Public
		n.mu.Unlock()
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// accessLog logs one line per request.
func (a *API) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := a.now()
		n := &note{}
		r = r.WithContext(context.WithValue(r.Context(), noteKey{}, n))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			return
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		attrs := []slog.Attr{
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", a.now().Sub(start)),
			slog.String("remote_addr", r.RemoteAddr),
		}
		who := "anonymous caller"
		if n.tenantID != "" {
			who = "tenant " + n.tenantID
			attrs = append(attrs, slog.String("tenant_id", n.tenantID), slog.String("api_key_id", n.apiKey))
		}
		msg := fmt.Sprintf("%s %s by %s answered %d", r.Method, r.URL.Path, who, sw.status)
		if n.errCode != "" {
			msg += ": " + n.errText
			attrs = append(attrs, slog.String("code", n.errCode))
		}
		a.log.LogAttrs(r.Context(), slog.LevelInfo, msg, attrs...)
	})
}

// recoverer turns a handler panic into a 500 and a logged stack.
func (a *API) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.ErrorContext(r.Context(), fmt.Sprintf("handler for %s %s panicked: %v", r.Method, r.URL.Path, v),
					slog.String("stack", string(debug.Stack())))
				writeError(w, internal(fmt.Errorf("panic: %v", v)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// clientIP is the address rate limits and logs attribute a request to:
// the peer's address, or, when the peer is a trusted proxy, the right-most
// address in X-Forwarded-For that is not itself a trusted proxy (entries
// further left are whatever the client chose to send).
func (a *API) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(a.cfg.TrustedProxies) == 0 || !a.trusted(host) {
		return host
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		for part := range strings.SplitSeq(h, ",") {
			hops = append(hops, strings.TrimSpace(part))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(hops[i])
		if err != nil {
			return host // a garbled header: attribute to the proxy
		}
		if !a.trusted(ip.String()) {
			return ip.Unmap().String()
		}
	}
	return host
}

func (a *API) trusted(s string) bool {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range a.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func rateLimited(what string, d time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: apiv1.CodeRateLimited, RetryAfter: d,
		Public: what + "; retry after " + d.Round(time.Second).String()}
}

// limitIP applies the per-IP limit to every request but the probes.
func (a *API) limitIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			if ok, d := a.ip.allow(a.clientIP(r)); !ok {
				e := rateLimited("too many requests from your address", d)
				setNote(r, e)
				writeError(w, e)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// principal is the authenticated caller.
type principal struct {
	TenantID string
	APIKeyID string
}

type principalKey struct{}

func callerOf(r *http.Request) principal {
	p, _ := r.Context().Value(principalKey{}).(principal)
	return p
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func unauthenticated(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: apiv1.CodeUnauthenticated, Public: msg}
}

// authTenant authenticates an API key and applies its rate limit.
func (a *API) authTenant(next http.Handler) http.Handler {
	return a.serve(func(w http.ResponseWriter, r *http.Request) error {
		tok, ok := bearer(r)
		if !ok {
			return unauthenticated("send your API key as Authorization: Bearer fmq_…")
		}
		id, secret, err := credentials.ParseAPIKey(tok)
		if err != nil {
			return unauthenticated("the API key is malformed; API keys look like fmq_<id>_<secret>")
		}
		var rec store.APIKey
		if _, err := a.st.Get(r.Context(), store.Secrets, store.APIKeyKey(id), &rec); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return unauthenticated("the API key is not valid (deleted or never issued)")
			}
			return &Error{Status: http.StatusServiceUnavailable, Code: apiv1.CodeUnavailable,
				Public: "the credential store is unavailable; try again shortly", Err: err}
		}
		if !credentials.SecretMatches(secret, rec.SecretHash) {
			return unauthenticated("the API key is not valid (deleted or never issued)")
		}
		var t tenant.Tenant
		if _, err := a.st.Get(r.Context(), store.Config, tenant.TenantKey(rec.TenantID), &t); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return unauthenticated("the API key's tenant no longer exists")
			}
			return &Error{Status: http.StatusServiceUnavailable, Code: apiv1.CodeUnavailable,
				Public: "the configuration store is unavailable; try again shortly", Err: err}
		}
		if t.Disabled {
			return &Error{Status: http.StatusForbidden, Code: apiv1.CodePermissionDenied,
				Public: "tenant " + t.ID + " is disabled; contact the operator"}
		}
		// Local token buckets first: cheap, and a flood cut off here
		// never reaches NATS. Then the limits shared by every instance.
		if ok, d := a.key.allow(rec.ID); !ok {
			return rateLimited(keyLimited, d)
		}
		if ok, d := a.tenant.allow(rec.TenantID); !ok {
			return rateLimited(tenantLimited, d)
		}
		if err := a.sharedLimits(r.Context(), rec); err != nil {
			return err
		}
		if n := noteOf(r); n != nil {
			n.mu.Lock()
			n.tenantID, n.apiKey = rec.TenantID, rec.ID
			n.mu.Unlock()
		}
		ctx := tenant.NewContext(r.Context(), rec.TenantID)
		ctx = context.WithValue(ctx, principalKey{}, principal{TenantID: rec.TenantID, APIKeyID: rec.ID})
		next.ServeHTTP(w, r.WithContext(ctx))
		return nil
	})
}

// What a caller over a rate limit is told.
const (
	keyLimited    = "too many requests with this API key"
	tenantLimited = "too many requests for your tenant (all its API keys together)"
)

// Scopes of the shared limits.
const (
	scopeKey    = "key"
	scopeTenant = "tenant"
)

// sharedLimitTimeout bounds the wait for the shared counters, so that a
// slow NATS delays a request by at most this much before it fails open.
const sharedLimitTimeout = time.Second

// sharedWarnEvery spaces the warnings that the shared limits failed.
const sharedWarnEvery = 10 * time.Second

// sharedLimits counts the request against the API key's and the tenant's
// limits shared by every instance. When NATS does not answer it lets the
// request through (and warns): the limits protect the service, they do not
// authorise anything, and this instance's own buckets still apply.
func (a *API) sharedLimits(ctx context.Context, rec store.APIKey) error {
	if a.cfg.Shared == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, sharedLimitTimeout)
	defer cancel()
	d, err := a.cfg.Shared.Take(ctx,
		ratelimit.Key{Scope: scopeKey, ID: rec.ID, Window: a.keyWindow},
		ratelimit.Key{Scope: scopeTenant, ID: rec.TenantID, Window: a.tenantWindow})
	if err != nil {
		a.warnShared(ctx, rec.TenantID, err)
		return nil
	}
	switch {
	case d.Allowed:
		return nil
	case d.Scope == scopeTenant:
		return rateLimited(tenantLimited, d.RetryAfter)
	default:
		return rateLimited(keyLimited, d.RetryAfter)
	}
}

func (a *API) warnShared(ctx context.Context, tid string, err error) {
	now := a.now().UnixNano()
	last := a.sharedWarnedAt.Load()
	if last != 0 && now-last < int64(sharedWarnEvery) || !a.sharedWarnedAt.CompareAndSwap(last, now) {
		return
	}
	a.log.WarnContext(ctx, "the rate limits shared by all control-plane instances could not be checked, so requests are let through "+
		"under this instance's own limits only; is NATS reachable?", slog.String("tenant_id", tid), slog.Any("err", err))
}

// authAdmin checks the operator's admin key.
func (a *API) authAdmin(next http.Handler) http.Handler {
	return a.serve(func(w http.ResponseWriter, r *http.Request) error {
		if a.cfg.AdminKey == "" {
			return &Error{Status: http.StatusForbidden, Code: apiv1.CodePermissionDenied,
				Public: "the admin API is disabled on this server (no admin key is configured)"}
		}
		tok, ok := bearer(r)
		if !ok {
			return unauthenticated("send the operator admin key as Authorization: Bearer <key>")
		}
		got := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(got[:], a.adminHash[:]) != 1 {
			return unauthenticated("the admin key is not valid")
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// tenantOf returns the authenticated tenant; it fails closed.
func tenantOf(r *http.Request) (string, error) {
	tid, ok := tenant.FromContext(r.Context())
	if !ok {
		return "", internal(fmt.Errorf("httpapi: no tenant in the context of %s %s", r.Method, r.URL.Path))
	}
	return tid, nil
}
