//go:build !linux

package conn

import (
	"errors"
	"net"
)

// Poller parks idle connections in an epoll set on Linux (park_linux.go).
// Elsewhere NewPoller fails and every connection keeps its goroutine.
type Poller struct{}

// NewPoller reports that parking is not available on this system.
func NewPoller() (*Poller, error) {
	return nil, errors.New("conn: parking idle connections needs epoll (Linux)")
}

// Run returns at once.
func (p *Poller) Run() {}

// Close does nothing.
func (p *Poller) Close() error { return nil }

func (p *Poller) arm(*Conn) error {
	return errors.New("conn: parking idle connections needs epoll (Linux)")
}

func (p *Poller) remove(*Conn) {}

func (p *Poller) schedule(*Conn) {}

func (c *Conn) attachSocket(*net.TCPConn) bool { return false }

func (l *lazyReader) fillNow(*net.TCPConn) (bool, error) {
	return false, errors.New("conn: parking idle connections needs epoll (Linux)")
}
