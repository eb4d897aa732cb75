package memstore_test

import (
	"testing"

	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/pkg/session/sessiontest"
)

func newStore(testing.TB) session.Store { return memstore.New() }

func TestConformance(t *testing.T) { sessiontest.Run(t, newStore) }

func BenchmarkStore(b *testing.B) { sessiontest.Bench(b, newStore) }

func TestGroups(t *testing.T) {
	sessiontest.RunGroups(t, func(testing.TB) sessiontest.GroupStore { return memstore.New() })
}
