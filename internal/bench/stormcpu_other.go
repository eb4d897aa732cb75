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
