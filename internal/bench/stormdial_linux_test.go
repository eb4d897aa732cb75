package bench

import (
	"net"
	"testing"
)

func TestSourcePicker(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want int
	}{
		{"127.0.0.1:1883", stormSources},
		{"[::1]:1883", 0},
		{"192.0.2.1:1883", 0},
		{"localhost:1883", 0},
	} {
		if got := len(newSourcePicker(3, tc.addr).addrs); got != tc.want {
			t.Errorf("newSourcePicker(3, %q) has %d source addresses, want %d", tc.addr, got, tc.want)
		}
	}
	p := newSourcePicker(3, "127.0.0.1:1883")
	seen := map[string]bool{}
	for range stormSources {
		a := p.dialer().LocalAddr.(*net.TCPAddr)
		if a.IP.To4()[0] != 127 || a.IP.To4()[1] != 13 || a.Port != 0 {
			t.Errorf("source %v, want 127.13.0.x with the port left to connect(2)", a)
		}
		seen[a.String()] = true
	}
	if len(seen) != stormSources {
		t.Errorf("%d dials used %d distinct sources, want every one", stormSources, len(seen))
	}
}

// TestSourcePickerDials connects from a picked loopback source address to
// a real listener, and sees it as the peer's address.
func TestSourcePickerDials(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := newSourcePicker(0, l.Addr().String())
	dl := p.dialer()
	c, err := dl.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial from %v: %v", dl.LocalAddr, err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := s.RemoteAddr().(*net.TCPAddr)
	if want := dl.LocalAddr.(*net.TCPAddr); !got.IP.Equal(want.IP) || got.Port == 0 {
		t.Errorf("the listener saw %v, want %v with a port", got, want.IP)
	}
}
