package redistest

import "syscall"

// procAttr makes the kernel kill the server when the test binary dies, so a
// crashed or killed test run leaves no redis-server behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
