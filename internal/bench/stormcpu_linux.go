package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ),
// 100 per second on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// procCPU returns the CPU time (user and system, every thread) that process
// pid has used so far, from /proc/<pid>/stat, to the nearest 10 ms.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: CPU time of process %d: %w", pid, err)
	}
	return parseProcStatCPU(b)
}

// parseProcStatCPU reads utime and stime, fields 14 and 15 of a
// /proc/<pid>/stat line (proc(5)). The command name, field 2, is in
// parentheses and may hold spaces and parentheses itself, so the fields
// are counted from its last closing parenthesis.
func parseProcStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: /proc stat line %.40q has no command name", stat)
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc stat line has %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc stat CPU time %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// listenDrops returns the kernel's count of connection attempts dropped by
// listening sockets, mostly for a full accept queue (TcpExt ListenDrops in
// /proc/net/netstat), for the whole network namespace.
func listenDrops() (int64, error) {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0, fmt.Errorf("bench: listen drops: %w", err)
	}
	return parseListenDrops(b)
}

// parseListenDrops finds ListenDrops in /proc/net/netstat: a line of
// "TcpExt:" field names followed by a line of their values.
func parseListenDrops(netstat []byte) (int64, error) {
	lines := bytes.Split(netstat, []byte("\n"))
	for i := 0; i+1 < len(lines); i++ {
		names, values := bytes.Fields(lines[i]), bytes.Fields(lines[i+1])
		if len(names) == 0 || string(names[0]) != "TcpExt:" || len(values) != len(names) || string(values[0]) != "TcpExt:" {
			continue
		}
		for k, name := range names {
			if string(name) == "ListenDrops" {
				n, err := strconv.ParseInt(string(values[k]), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("bench: /proc/net/netstat ListenDrops %q: %w", values[k], err)
				}
				return n, nil
			}
		}
	}
	return 0, errors.New("bench: /proc/net/netstat has no TcpExt ListenDrops")
}
