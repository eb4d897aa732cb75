//go:build !unix

package jwtauth_test

import "time"

// processCPU is not available here; benchmarks then report wall-clock
// throughput only.
func processCPU() (time.Duration, bool) { return 0, false }
