//go:build unix && !linux

package bench

import "syscall"

// procAttr puts a child in its own process group, so a kill reaches
// everything it started.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup sends sig to the process group led by pid.
func killGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }
