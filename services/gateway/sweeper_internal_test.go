package gateway

import "testing"

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1,000"}, {1204, "1,204"},
		{20000, "20,000"}, {1234567, "1,234,567"}, {-1204, "-1,204"},
	} {
		if got := count(tc.n); got != tc.want {
			t.Errorf("count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestSweepStatsString(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    sweepStats
		want string
	}{
		{"plain", sweepStats{orphaned: 1204, published: 1100}, "1,204 sessions disconnected, 1,100 wills published"},
		{"all", sweepStats{orphaned: 5, published: 2, delayed: 1, returned: 3, failed: 1},
			"5 sessions disconnected, 2 wills published, 1 wills to publish when their delay ends, 3 clients had reconnected meanwhile, 1 sessions failed (see the warnings above)"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%s: String() = %q, want %q", tc.name, got, tc.want)
		}
	}
}
