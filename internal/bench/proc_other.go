//go:build unix && !linux

package bench

import "syscall"

// procAttr puts a child in its own process group, so a kill reaches
// everything it started.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup sends sig to the process group led by pid.
func killGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }

// fdLimit is the most files a child process may open: the hard limit,
// which Go programs raise their soft limit to when they start.
func fdLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Max, nil
}
