package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseProcStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name string
		stat string
		want time.Duration
		err  bool
	}{
		{"plain", "4242 (flockd) S 1 4242 4242 0 -1 4194560 1200 0 0 0 150 25 0 0 20 0 9 0 100 0 0", 1750 * time.Millisecond, false},
		{"name with spaces and parentheses", "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 0 0", 70 * time.Millisecond, false},
		{"no command name", "4242 flockd S 1", 0, true},
		{"too short", "4242 (flockd) S 1 2 3", 0, true},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 ab 2 0", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStatCPU([]byte(tc.stat))
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("parseProcStatCPU(%q) = %v, %v; want %v (error: %v)", tc.stat, got, err, tc.want, tc.err)
			}
		})
	}
}

// TestProcCPUOfSelf reads this process's own CPU time from /proc, and
// checks it against the kernel's accounting read another way.
func TestProcCPUOfSelf(t *testing.T) {
	got, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatalf("procCPU(self): %v", err)
	}
	// /proc rounds down to clock ticks; getrusage does not. Both only grow.
	if ru := time.Duration(processCPU()); got > ru {
		t.Errorf("procCPU(self) = %v, more than getrusage's %v read after it", got, ru)
	}
	if _, err := procCPU(-1); err == nil {
		t.Error("procCPU(-1) succeeded; want an error")
	}
}

func TestParseListenDrops(t *testing.T) {
	netstat := "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPHPHits\n" +
		"TcpExt: 0 12 15 99\n" +
		"IpExt: InNoRoutes ListenDrops\n" +
		"IpExt: 1 2\n"
	if n, err := parseListenDrops([]byte(netstat)); err != nil || n != 15 {
		t.Errorf("parseListenDrops = %d, %v; want 15", n, err)
	}
	for _, bad := range []string{"", "TcpExt: ListenDrops\n", "TcpExt: ListenDrops\nTcpExt: x\n", "IpExt: ListenDrops\nIpExt: 3\n"} {
		if n, err := parseListenDrops([]byte(bad)); err == nil {
			t.Errorf("parseListenDrops(%q) = %d, want an error", bad, n)
		}
	}
	if _, err := listenDrops(); err != nil {
		t.Errorf("listenDrops of this machine: %v", err)
	}
}
