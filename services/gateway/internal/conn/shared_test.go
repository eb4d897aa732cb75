package conn

import (
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/pkg/session/redisstore"
	"github.com/flockmq/flockmq/pkg/session/sessiontest"
)

// The stores the gateway ships have the capability shared subscription
// replay needs, with the method set sessiontest.RunGroups checks.
var (
	_ GroupStore             = (*memstore.Store)(nil)
	_ GroupStore             = (*redisstore.Store)(nil)
	_ sessiontest.GroupStore = GroupStore(nil)
)
