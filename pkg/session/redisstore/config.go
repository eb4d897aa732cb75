package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/redis/go-redis/v9"
)

// Config says how the service reaches Redis. Which deployment it is follows
// from the fields, as with redis.NewUniversalClient:
//   - MasterName set: Sentinel; Addrs are the sentinels.
//   - more than one address, or Cluster: Redis Cluster; Addrs are seed nodes.
//   - otherwise: a single node.
type Config struct {
	Addrs      []string `json:"addrs" yaml:"addrs"`                                 // host:port, at least one
	MasterName string   `json:"master_name,omitempty" yaml:"master_name,omitempty"` // Sentinel primary's name
	Username   string   `json:"username,omitempty" yaml:"username,omitempty"`       // ACL user; empty means default
	Password   string   `json:"password,omitempty" yaml:"password,omitempty"`
	DB         int      `json:"db,omitempty" yaml:"db,omitempty"`           // database number; Cluster has only 0
	TLS        bool     `json:"tls,omitempty" yaml:"tls,omitempty"`         // TLS 1.2+, verifying the server's name
	Cluster    bool     `json:"cluster,omitempty" yaml:"cluster,omitempty"` // one address that is a cluster's entry point
}

// Validate reports the first problem of c, naming the field.
func (c Config) Validate() error {
	if len(c.Addrs) == 0 {
		return errors.New("redisstore: config: addrs: at least one address is required")
	}
	for i, a := range c.Addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" {
			return fmt.Errorf("redisstore: config: addrs[%d]: %q is not host:port", i, a)
		}
	}
	if c.DB < 0 {
		return fmt.Errorf("redisstore: config: db: %d is negative", c.DB)
	}
	if c.Cluster && c.MasterName != "" {
		return errors.New("redisstore: config: cluster and master_name exclude each other")
	}
	if c.isCluster() && c.DB != 0 {
		return fmt.Errorf("redisstore: config: db: Redis Cluster has only database 0, not %d", c.DB)
	}
	return nil
}

func (c Config) isCluster() bool {
	return c.MasterName == "" && (c.Cluster || len(c.Addrs) > 1)
}

// LogValue keeps the password out of logs.
func (c Config) LogValue() slog.Value {
	pw := ""
	if c.Password != "" {
		pw = "REDACTED"
	}
	return slog.GroupValue(
		slog.Any("addrs", c.Addrs),
		slog.String("master_name", c.MasterName),
		slog.String("username", c.Username),
		slog.String("password", pw),
		slog.Int("db", c.DB),
		slog.Bool("tls", c.TLS),
		slog.Bool("cluster", c.Cluster),
	)
}

// NewClient returns a client for cfg, which should have passed Validate.
// The client connects lazily; the caller closes it.
func NewClient(cfg Config) redis.UniversalClient {
	opts := &redis.UniversalOptions{
		Addrs:         cfg.Addrs,
		MasterName:    cfg.MasterName,
		Username:      cfg.Username,
		Password:      cfg.Password,
		DB:            cfg.DB,
		IsClusterMode: cfg.Cluster,
	}
	if cfg.TLS {
		// ServerName stays empty: the dialer takes it from each address.
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewUniversalClient(opts)
}
