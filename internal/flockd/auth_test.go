package flockd

import (
	"context"
	"errors"
	"testing"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/tenant"
)

// emptyKeys is a configuration without tenants, keys or devices.
type emptyKeys struct{}

func (emptyKeys) Key(string) (*jwtauth.Key, bool)             { return nil, false }
func (emptyKeys) Tenant(string) (tenant.Tenant, bool)         { return tenant.Tenant{}, false }
func (emptyKeys) Device(string, string) (tenant.Device, bool) { return tenant.Device{}, false }
func (emptyKeys) Revocation(string, tenant.RevocationKind, string) (tenant.Revocation, bool) {
	return tenant.Revocation{}, false
}

// TestAuthChainWhileKeysLoad checks that a token presented before the key
// cache is loaded is refused as "try again" (neither bad credentials nor
// not authorized, so the gateway answers server unavailable), that clients
// without credentials still get the anonymous tenant, and that once the
// cache is ready the token is verified.
func TestAuthChainWhileKeysLoad(t *testing.T) {
	v, err := jwtauth.New(jwtauth.Config{}, jwtauth.Deps{Keys: emptyKeys{}})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	a := authChain{jwt: v, anonymous: "dev", ready: ready}
	ctx := context.Background()
	withToken := auth.Request{ClientID: "sensor-1", Password: []byte("a.b.c")}

	_, err = a.Authenticate(ctx, withToken)
	if !errors.Is(err, errKeysLoading) || errors.Is(err, auth.ErrBadCredentials) || errors.Is(err, auth.ErrNotAuthorized) {
		t.Errorf("Authenticate(token) while loading = %v, want errKeysLoading only", err)
	}
	if id, err := a.Authenticate(ctx, auth.Request{ClientID: "sensor-2"}); err != nil || id.Tenant != "dev" {
		t.Errorf("Authenticate(no credentials) while loading = %+v, %v; want the anonymous tenant", id, err)
	}

	close(ready)
	if _, err := a.Authenticate(ctx, withToken); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("Authenticate(malformed token) once loaded = %v, want bad credentials", err)
	}
}
