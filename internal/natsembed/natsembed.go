// Package natsembed runs a NATS server with JetStream inside the flockd
// process: the backbone of the single-process mode, and the real server the
// tests run against. Clients in the same process connect without a socket
// through the server's in-process connection (nats.InProcessServer(srv)).
package natsembed

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config configures the embedded server. The zero value is a server
// listening on 127.0.0.1 at a random port with JetStream storing under a
// temporary directory.
type Config struct {
	// Host and Port of the client listener. Port 0 picks a free port; -1
	// disables the listener so only in-process clients can connect.
	Host string `json:"host"`
	Port int    `json:"port"`
	// DataDir is where JetStream keeps its files. Empty means a new
	// temporary directory, removed at Shutdown.
	DataDir string `json:"data_dir"`
	// ServerName names the server in logs and JetStream metadata.
	ServerName string `json:"server_name"`
	// MaxMemory and MaxStore bound JetStream's memory and file storage in
	// bytes; 0 lets the server pick from the machine's resources.
	MaxMemory int64 `json:"max_memory"`
	MaxStore  int64 `json:"max_store"`
	// ReadyTimeout bounds the wait for the server to accept connections;
	// 0 means 10s.
	ReadyTimeout time.Duration `json:"ready_timeout"`
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.Port < -1 || c.Port > 65535 {
		return fmt.Errorf("natsembed: port: %d is not a port number (use 0 for any free port, -1 for none)", c.Port)
	}
	if c.MaxMemory < 0 || c.MaxStore < 0 {
		return errors.New("natsembed: max_memory and max_store must not be negative")
	}
	return nil
}

// Server is a running embedded NATS server.
type Server struct {
	ns         *server.Server
	inProcOnly bool   // no client listener
	tempDir    string // removed at Shutdown; "" when the data dir is the user's
}

// Start starts the server and waits until it accepts connections.
func Start(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{}
	dir := cfg.DataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "flockmq-nats-*")
		if err != nil {
			return nil, fmt.Errorf("natsembed: create data dir: %w", err)
		}
		dir, s.tempDir = d, d
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName:         cfg.ServerName,
		Host:               host,
		Port:               port,
		DontListen:         cfg.Port == -1,
		JetStream:          true,
		StoreDir:           filepath.Clean(dir),
		JetStreamMaxMemory: cfg.MaxMemory,
		JetStreamMaxStore:  cfg.MaxStore,
		NoSigs:             true,
		MaxPayload:         8 << 20,
		// An MQTT topic may be 65535 bytes and escaping can triple it
		// (pkg/subject), so subjects need far more than the default 4 KiB
		// protocol line.
		MaxControlLine: 256 << 10,
	}
	if opts.ServerName == "" {
		opts.ServerName = "flockd"
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("natsembed: configure server: %w", err)
	}
	ns.SetLoggerV2(&logger{log: log.With("component", "nats")}, false, false, false)
	ns.Start()
	timeout := cfg.ReadyTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if !ns.ReadyForConnections(timeout) {
		ns.Shutdown()
		s.cleanup()
		return nil, fmt.Errorf("natsembed: server not ready within %s", timeout)
	}
	s.ns, s.inProcOnly = ns, opts.DontListen
	return s, nil
}

// ClientURL is the nats:// URL of the client listener, "" when it is disabled.
func (s *Server) ClientURL() string {
	if s.inProcOnly {
		return ""
	}
	return s.ns.ClientURL()
}

// StoreDir is the directory JetStream writes to.
func (s *Server) StoreDir() string { return s.ns.StoreDir() }

// InProcessConn returns a socketless connection to the server. It makes
// Server a nats.InProcessConnProvider: nats.Connect("", nats.InProcessServer(s)).
func (s *Server) InProcessConn() (net.Conn, error) { return s.ns.InProcessConn() }

// NATS returns the underlying server for the few callers that need more.
func (s *Server) NATS() *server.Server { return s.ns }

// Shutdown stops the server and waits for it. It is idempotent.
func (s *Server) Shutdown() {
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	}
	s.cleanup()
}

func (s *Server) cleanup() {
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
		s.tempDir = ""
	}
}

// logger adapts slog to the nats-server logging interface.
type logger struct{ log *slog.Logger }

func (l *logger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *logger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *logger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *logger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *logger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *logger) Tracef(format string, v ...any)  {}
