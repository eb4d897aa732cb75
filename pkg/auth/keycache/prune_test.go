package keycache

import (
	"testing"
	"time"

	"github.com/flockmq/flockmq/pkg/tenant"
)

// TestPruneExpired: revocations past their ExpiresAt are dropped, others
// kept.
func TestPruneExpired(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	c := &Cache{now: func() time.Time { return at }, revocations: map[revocationRef]revocationEntry{}}
	past, future := at.Add(-time.Second), at.Add(time.Hour)
	c.revocations[revocationRef{"t-a", tenant.RevokeToken, "old"}] = revocationEntry{r: tenant.Revocation{ExpiresAt: &past}}
	c.revocations[revocationRef{"t-a", tenant.RevokeToken, "live"}] = revocationEntry{r: tenant.Revocation{ExpiresAt: &future}}
	c.revocations[revocationRef{"t-a", tenant.RevokeDevice, "dev"}] = revocationEntry{r: tenant.Revocation{}}
	c.pruneExpired()
	if _, ok := c.revocations[revocationRef{"t-a", tenant.RevokeToken, "old"}]; ok {
		t.Error("an expired revocation survived pruning")
	}
	if len(c.revocations) != 2 {
		t.Errorf("after pruning %d revocations remain, want 2", len(c.revocations))
	}
}
