package flockd

import (
	"context"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
)

// authChain verifies JWTs and, when an anonymous tenant is configured, lets
// clients that present no credentials at all in as that tenant. A client that
// presents a password or an authentication method always goes through JWT
// verification, so a bad token is refused even on a development instance.
type authChain struct {
	jwt       *jwtauth.Verifier
	anonymous string // tenant of clients without credentials; "" refuses them
}

var (
	_ auth.Authenticator   = authChain{}
	_ auth.Reauthenticator = authChain{}
)

// Authenticate implements auth.Authenticator.
func (a authChain) Authenticate(ctx context.Context, req auth.Request) (auth.Identity, error) {
	if a.anonymous != "" && len(req.Password) == 0 && req.AuthMethod == "" {
		return auth.Anonymous{Tenant: a.anonymous}.Authenticate(ctx, req)
	}
	return a.jwt.Authenticate(ctx, req)
}

// Reauthenticate implements auth.Reauthenticator (MQTT 5 AUTH 0x19).
func (a authChain) Reauthenticate(ctx context.Context, current auth.Identity, req auth.Request) (auth.Identity, error) {
	return a.jwt.Reauthenticate(ctx, current, req)
}
