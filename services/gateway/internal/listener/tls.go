package listener

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// certStore serves a listener's TLS configuration and reloads it when the
// certificate, key or client CA files change. Handshakes check for changes at
// most once per interval (one goroutine reads the files, the others keep the
// current configuration); a failed reload keeps the last good certificate.
// Established connections are unaffected by a reload. It is safe for
// concurrent use.
type certStore struct {
	name                      string
	certFile, keyFile, caFile string
	template                  *tls.Config // TLS settings without certificates
	interval                  time.Duration
	now                       func() time.Time
	log                       *slog.Logger

	cur       atomic.Pointer[certSnapshot] // the configuration handshakes use
	nextCheck atomic.Int64                 // unix nanoseconds of the next file check

	mu      sync.Mutex // serialises loads
	lastErr string     // guarded by mu: the last reload failure logged
}

// certSnapshot is one loaded generation of the files.
type certSnapshot struct {
	cert, key, ca []byte
	config        *tls.Config
	expires       time.Time
}

func newCertStore(cfg Config, log *slog.Logger) (*certStore, error) {
	minVersion := uint16(tls.VersionTLS12)
	if cfg.TLSMinVersion == "1.3" {
		minVersion = tls.VersionTLS13
	}
	template := &tls.Config{MinVersion: minVersion}
	if cfg.Kind == KindWSS {
		template.NextProtos = []string{"http/1.1"}
	}
	if cfg.ClientCAFile != "" {
		template.ClientAuth = tls.RequireAndVerifyClientCert
		if cfg.ClientCertOptional {
			template.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	s := &certStore{
		name:     cfg.Name,
		certFile: cfg.CertFile,
		keyFile:  cfg.KeyFile,
		caFile:   cfg.ClientCAFile,
		template: template,
		interval: cfg.CertReloadInterval,
		now:      time.Now,
		log:      log,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.load(); err != nil {
		return nil, fmt.Errorf("listener %s: %w", cfg.Name, err)
	}
	s.nextCheck.Store(s.now().Add(s.interval).UnixNano())
	snap := s.cur.Load()
	log.Info(fmt.Sprintf("listener %s loaded its TLS certificate from %s (expires %s)",
		s.name, s.certFile, snap.expires.UTC().Format(time.DateOnly)),
		"cert_file", s.certFile, "expires", snap.expires)
	return s, nil
}

// serverConfig returns the configuration to hand to tls.Server: it defers to
// the current snapshot for every handshake.
func (s *certStore) serverConfig() *tls.Config {
	c := s.template.Clone()
	c.GetConfigForClient = s.getConfigForClient
	return c
}

func (s *certStore) getConfigForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	s.maybeReload()
	return s.cur.Load().config, nil
}

// maybeReload reloads the files if the check interval has passed.
func (s *certStore) maybeReload() {
	now := s.now()
	next := s.nextCheck.Load()
	if now.UnixNano() < next {
		return
	}
	if !s.nextCheck.CompareAndSwap(next, now.Add(s.interval).UnixNano()) {
		return // another handshake is checking
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed, err := s.load()
	switch {
	case err != nil:
		if msg := err.Error(); msg != s.lastErr {
			s.lastErr = msg
			s.log.Warn(fmt.Sprintf("listener %s kept its current TLS certificate because reloading failed", s.name),
				"err", err)
		}
	case changed:
		s.lastErr = ""
		exp := s.cur.Load().expires
		s.log.Info(fmt.Sprintf("listener %s reloaded its TLS certificate from %s (expires %s)",
			s.name, s.certFile, exp.UTC().Format(time.DateOnly)),
			"cert_file", s.certFile, "expires", exp)
	}
}

// load reads the files and, if they differ from the current snapshot and
// parse, installs a new one. The caller holds s.mu.
func (s *certStore) load() (changed bool, err error) {
	cert, err := os.ReadFile(s.certFile)
	if err != nil {
		return false, fmt.Errorf("cert_file: %w", err)
	}
	key, err := os.ReadFile(s.keyFile)
	if err != nil {
		return false, fmt.Errorf("key_file: %w", err)
	}
	var ca []byte
	if s.caFile != "" {
		if ca, err = os.ReadFile(s.caFile); err != nil {
			return false, fmt.Errorf("client_ca_file: %w", err)
		}
	}
	if old := s.cur.Load(); old != nil &&
		bytes.Equal(old.cert, cert) && bytes.Equal(old.key, key) && bytes.Equal(old.ca, ca) {
		return false, nil
	}

	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return false, fmt.Errorf("cert_file %s and key_file %s: %w", s.certFile, s.keyFile, err)
	}
	if pair.Leaf == nil {
		return false, errors.New("cert_file: no leaf certificate")
	}
	c := s.template.Clone()
	c.Certificates = []tls.Certificate{pair}
	if ca != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return false, fmt.Errorf("client_ca_file %s: no PEM certificates", s.caFile)
		}
		c.ClientCAs = pool
	}
	s.cur.Store(&certSnapshot{cert: cert, key: key, ca: ca, config: c, expires: pair.Leaf.NotAfter})
	return true, nil
}
