package conn

import (
	"net"
	"syscall"
)

// peerClosed reports whether the client has already closed (or reset) the
// connection under nc, as far as the kernel knows, without consuming any
// input: a non-blocking MSG_PEEK of one byte that reads end of stream or
// a reset. Connections whose socket cannot be reached (WebSocket) report
// false.
func peerClosed(nc net.Conn) bool {
	for {
		if sc, ok := nc.(syscall.Conn); ok {
			rc, err := sc.SyscallConn()
			if err != nil {
				return false
			}
			closed := false
			var one [1]byte
			_ = rc.Control(func(fd uintptr) {
				n, _, err := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
				switch {
				case err == nil && n == 0:
					closed = true // end of stream
				case err == syscall.ECONNRESET || err == syscall.EPIPE:
					closed = true
				}
			})
			return closed
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return false
		}
		nc = u.NetConn()
	}
}
