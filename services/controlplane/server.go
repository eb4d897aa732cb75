package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/pkg/presence"
	"github.com/flockmq/flockmq/services/controlplane/internal/httpapi"
	"github.com/flockmq/flockmq/services/controlplane/internal/ratelimit"
	"github.com/flockmq/flockmq/services/controlplane/internal/store"
)

// Deps are the control plane's collaborators.
type Deps struct {
	// NATS is a connection to a NATS system with JetStream; required. The
	// caller owns it and closes it after Shutdown.
	NATS *nats.Conn
	// Logger receives access and event logs; nil discards them.
	Logger *slog.Logger
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// Server is a control-plane instance. It is safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger
	api *httpapi.API

	mu       sync.Mutex
	srv      *http.Server  // guarded by mu; set by Run
	closed   bool          // guarded by mu; set by Shutdown
	shutdown chan struct{} // closed by the first Shutdown
}

// New validates cfg and binds the key-value buckets, creating missing ones.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	proxies, err := cfg.trustedProxies()
	if err != nil {
		return nil, err
	}
	if deps.NATS == nil {
		return nil, errors.New("controlplane: Deps.NATS is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Clock == nil {
		deps.Clock = time.Now
	}
	log := deps.Logger.With("component", "controlplane")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	st, err := store.Open(ctx, deps.NATS, cfg.ConfigBucket, cfg.SecretsBucket, cfg.Replicas)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	if !st.KeyTTLSupported() {
		log.Warn("the NATS server cannot expire keys on its own (per-key TTLs need nats-server 2.11 or later); "+
			"expired token revocations will be dropped by their expires_at only", "bucket", cfg.ConfigBucket)
	}
	js, err := jetstream.New(deps.NATS)
	if err != nil {
		return nil, fmt.Errorf("controlplane: JetStream: %w", err)
	}
	shared, err := openSharedLimits(ctx, js, cfg, deps.Clock, log)
	if err != nil {
		return nil, err
	}
	// Gateways write presence; the reader only reads it, and creates the
	// bucket on first use when no gateway has run yet, so a device never
	// seen reads as such rather than as an error.
	pres, err := presence.NewReader(js, presence.Config{Bucket: cfg.PresenceBucket, Now: deps.Clock})
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	api := httpapi.New(httpapi.Config{
		Audience:       cfg.Audience,
		Issuer:         cfg.Issuer,
		AdminKey:       cfg.AdminKey,
		MaxTokenTTL:    cfg.MaxTokenTTL,
		BodyLimit:      cfg.BodyLimit,
		BulkBodyLimit:  cfg.BulkBodyLimit,
		MaxBulk:        cfg.MaxBulk,
		SignupLimit:    cfg.SignupRateLimit,
		IPLimit:        cfg.IPRateLimit,
		APIKeyLimit:    cfg.APIKeyRateLimit,
		TenantLimit:    cfg.TenantRateLimit,
		Defaults:       cfg.DefaultQuotas,
		TrustedProxies: proxies,
		Presence:       pres,
		Shared:         shared,
	}, st, log, deps.Clock)
	return &Server{cfg: cfg, log: log, api: api, shutdown: make(chan struct{})}, nil
}

// openSharedLimits binds the counters that hold the API key and tenant rate
// limits across instances. On a NATS server that cannot count (older than
// 2.12) the limits stay per instance, with a warning.
func openSharedLimits(ctx context.Context, js jetstream.JetStream, cfg Config, clock func() time.Time, log *slog.Logger) (httpapi.SharedLimits, error) {
	longest := max(ratelimit.WindowFor(cfg.APIKeyRateLimit.Rate, cfg.APIKeyRateLimit.Burst).Period,
		ratelimit.WindowFor(cfg.TenantRateLimit.Rate, cfg.TenantRateLimit.Burst).Period)
	c, err := ratelimit.Open(ctx, js, ratelimit.Config{Stream: cfg.RatesStream, Replicas: cfg.Replicas, MaxPeriod: longest}, clock)
	if errors.Is(err, ratelimit.ErrUnsupported) {
		log.Warn("the NATS server cannot keep the shared rate-limit counters (it needs nats-server 2.12 or later); "+
			"API key and tenant rate limits apply per control-plane instance", "stream", cfg.RatesStream)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	return c, nil
}

// Handler returns the API's root handler (every route, with logging, rate
// limits and authentication).
func (s *Server) Handler() http.Handler { return s.api.Handler() }

// Run serves the API on Config.Addr until ctx ends or Shutdown is called,
// then stops gracefully within Config.ShutdownTimeout. It returns nil after
// a graceful stop.
func (s *Server) Run(ctx context.Context) error {
	var tlsConfig *tls.Config
	if s.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("controlplane: load TLS certificate %s: %w", s.cfg.TLSCertFile, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("controlplane: listen on %s: %w", s.cfg.Addr, err)
	}
	scheme := "http"
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
		scheme = "https"
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.srv = srv
	s.mu.Unlock()
	s.log.Info("control plane API listening on "+scheme+"://"+ln.Addr().String(), "addr", ln.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("controlplane: serve: %w", err)
	case <-ctx.Done():
	case <-s.shutdown:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("controlplane: shutdown: %w", err)
	}
	s.log.Info("control plane API stopped")
	return nil
}

// Shutdown stops Run gracefully, waiting for in-flight requests until ctx
// ends. It is idempotent and safe to call before or without Run.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	if !s.closed {
		s.closed = true
		close(s.shutdown)
	}
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("controlplane: shutdown: %w", err)
	}
	return nil
}
