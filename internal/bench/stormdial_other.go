//go:build unix && !linux

package bench

import "syscall"

// bindNoPortSupported is false: without Linux's IP_BIND_ADDRESS_NO_PORT,
// binding a source address picks its port at bind(2), per address, which
// would fail sooner than the kernel's own choice.
const bindNoPortSupported = false

func bindNoPort(string, string, syscall.RawConn) error { return nil }
