package flockd

import (
	"context"
	"errors"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
)

// authChain verifies JWTs and, when an anonymous tenant is configured, lets
// clients that present no credentials at all in as that tenant. A client that
// presents a password or an authentication method always goes through JWT
// verification, so a bad token is refused even on a development instance.
//
// Until ready is closed (the key cache has loaded the configuration), a
// token cannot be judged, so it is refused with errKeysLoading, which the
// gateway answers with "server unavailable" (MQTT 3.1.1 section 3.2.2.3
// return code 0x03, MQTT 5 reason code 0x88): devices retry that, whereas
// "not authorized" would tell them their credentials are wrong. It also
// spares the signature check of tokens a half-loaded cache would refuse
// anyway, which matters when every device reconnects to a restarted
// gateway at once.
type authChain struct {
	jwt       *jwtauth.Verifier
	anonymous string          // tenant of clients without credentials; "" refuses them
	ready     <-chan struct{} // closed once the key cache is loaded; nil: always ready
}

// errKeysLoading refuses a token while the key cache is still loading.
var errKeysLoading = errors.New("flockd: the tenants' keys and devices are still loading; the client may retry shortly")

var (
	_ auth.Authenticator   = authChain{}
	_ auth.Reauthenticator = authChain{}
)

// Authenticate implements auth.Authenticator.
func (a authChain) Authenticate(ctx context.Context, req auth.Request) (auth.Identity, error) {
	if a.anonymous != "" && len(req.Password) == 0 && req.AuthMethod == "" {
		return auth.Anonymous{Tenant: a.anonymous}.Authenticate(ctx, req)
	}
	if a.ready != nil {
		select {
		case <-a.ready:
		default:
			return auth.Identity{}, errKeysLoading
		}
	}
	return a.jwt.Authenticate(ctx, req)
}

// Reauthenticate implements auth.Reauthenticator (MQTT 5 AUTH 0x19).
func (a authChain) Reauthenticate(ctx context.Context, current auth.Identity, req auth.Request) (auth.Identity, error) {
	return a.jwt.Reauthenticate(ctx, current, req)
}
