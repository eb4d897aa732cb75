//go:build unix && !linux

package bench

import (
	"errors"
	"time"
)

// procCPU is known on Linux only (/proc/<pid>/stat).
func procCPU(int) (time.Duration, error) {
	return 0, errors.New("bench: the CPU time of another process is read from /proc, on Linux only")
}

// listenDrops is known on Linux only (/proc/net/netstat).
func listenDrops() (int64, error) {
	return 0, errors.New("bench: listen drops are read from /proc, on Linux only")
}
