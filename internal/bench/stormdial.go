package bench

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// stormSources is how many loopback source addresses a worker spreads its
// connections over.
const stormSources = 64

// sourcePicker hands out the local addresses a worker dials from. On
// loopback, every connection from one address to the gateway's address
// and port needs its own ephemeral port: with thousands held, thousands
// more in TIME_WAIT after a drop and the default range of ~28,000 ports,
// the kernel's search for a free one in connect(2) cost the worker more
// CPU than the rest of an attempt, and counted against the rate. Spread
// over 127.<10+worker>.0.1–64 (all of 127/8 is local on Linux), each
// source address holds a few hundred ports and the first one tried is
// free. It is safe for concurrent use.
type sourcePicker struct {
	addrs []*net.TCPAddr // nil: dial from the address the kernel picks
	next  atomic.Uint32
}

// newSourcePicker returns the picker of worker w for a gateway at addr:
// loopback source addresses when addr is an IPv4 loopback address and the
// platform lets a socket bind an address without a port, else none.
func newSourcePicker(w int, addr string) *sourcePicker {
	p := &sourcePicker{}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() || !ap.Addr().IsLoopback() || !bindNoPortSupported {
		return p
	}
	for i := range stormSources {
		ip := netip.AddrFrom4([4]byte{127, byte(10 + w%200), 0, byte(1 + i)})
		p.addrs = append(p.addrs, net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	}
	return p
}

// dialer returns the dialer of one attempt.
func (p *sourcePicker) dialer() net.Dialer {
	if len(p.addrs) == 0 {
		return net.Dialer{}
	}
	a := p.addrs[int(p.next.Add(1))%len(p.addrs)]
	return net.Dialer{LocalAddr: a, Control: bindNoPort}
}
