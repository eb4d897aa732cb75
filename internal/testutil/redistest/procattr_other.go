//go:build !linux

package redistest

import "syscall"

// procAttr returns nil: only Linux can tie the server's life to the test
// binary's, elsewhere t.Cleanup and Main stop it.
func procAttr() *syscall.SysProcAttr { return nil }
