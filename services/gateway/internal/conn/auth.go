package conn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/presence"
)

// handleAuth handles an AUTH packet after CONNACK: MQTT 5 re-authentication
// [MQTT-4.12.1-1]. Only a client that authenticated with an Authentication
// Method may send AUTH [MQTT-4.12.0-7], only with reason 0x19, and with the
// same method (another is a protocol error, 0x82: 0x8C is not a DISCONNECT
// reason code). On success the server answers AUTH 0x00 and the new
// identity (its token's expiry, say) replaces the old one; on failure it
// disconnects with 0x87 not authorized [MQTT-4.12.1-2].
func (c *Conn) handleAuth(p *mqtt.Auth) (CloseReason, error) {
	switch {
	case c.authMethod() == "":
		return CloseProtocolError, errors.New("AUTH from a client that did not use enhanced authentication")
	case p.ReasonCode != mqtt.ReAuthenticate:
		// The server never asked to continue (FLOCK-JWT is one step).
		return CloseProtocolError, fmt.Errorf("AUTH with reason %s outside an authentication exchange", p.ReasonCode)
	case p.Properties.AuthMethod != c.authMethod():
		return CloseProtocolError, fmt.Errorf("re-authentication with method %q, the connection used %q", p.Properties.AuthMethod, c.authMethod())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cur := c.Identity()
	req := auth.Request{
		ClientID: c.key.ClientID, AuthMethod: p.Properties.AuthMethod, AuthData: p.Properties.AuthData, RemoteAddr: c.remote(),
	}
	var id auth.Identity
	var err error
	if ra, ok := c.env.Auth.(auth.Reauthenticator); ok {
		id, err = ra.Reauthenticate(ctx, cur, req)
	} else {
		id, err = c.env.Auth.Authenticate(ctx, req)
	}
	if err == nil && (id.Tenant != cur.Tenant || id.Device != cur.Device) {
		// A session's tenant and device never change [MQTT-4.12.1-1],
		// whatever the authenticator says.
		err = fmt.Errorf("conn: re-authentication names device %s of tenant %s, not the session's: %w", id.Device, id.Tenant, auth.ErrNotAuthorized)
	}
	if err != nil {
		return CloseReauthFailed, err
	}
	c.setIdentity(id)
	c.watchToken(id.ExpiresAt)
	c.sendControl(&mqtt.Auth{ReasonCode: mqtt.Success, Properties: mqtt.Properties{AuthMethod: c.authMethod()}}) // [MQTT-4.12.0-5]
	if id.ExpiresAt.IsZero() {
		c.logger().Info(fmt.Sprintf("client %s of tenant %s re-authenticated; its credentials do not expire", c.key.ClientID, c.key.Tenant))
	} else {
		c.logger().Info(fmt.Sprintf("client %s of tenant %s re-authenticated; its token now expires at %s",
			c.key.ClientID, c.key.Tenant, id.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	return CloseNone, nil
}

// watchToken ends the connection when its identity expires at at (zero:
// never): MQTT 5 clients get DISCONNECT 0x87, others are closed. A later
// call (a re-authentication) replaces the deadline. It runs on the serving
// goroutine.
func (c *Conn) watchToken(at time.Time) {
	if at.IsZero() {
		c.expiresAt.Store(0)
		c.stopTokenTimer()
		return
	}
	c.expiresAt.Store(at.UnixNano())
	d := at.Sub(c.env.now())
	c.authMu.Lock()
	defer c.authMu.Unlock()
	if c.tokenTimer == nil {
		c.tokenTimer = time.AfterFunc(d, c.tokenExpired)
		return
	}
	c.tokenTimer.Reset(d)
}

// stopTokenTimer stops the token timer.
func (c *Conn) stopTokenTimer() {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	if c.tokenTimer != nil {
		c.tokenTimer.Stop()
	}
}

// tokenExpired runs on the timer's goroutine.
func (c *Conn) tokenExpired() {
	at := c.expiresAt.Load()
	if at == 0 {
		return
	}
	if left := time.Unix(0, at).Sub(c.env.now()); left > 0 {
		// The clock disagrees with the timer's (an injected clock), or a
		// re-authentication moved the deadline: wait for the rest.
		c.authMu.Lock()
		c.tokenTimer.Reset(left)
		c.authMu.Unlock()
		return
	}
	c.Kill(CloseTokenExpired)
}

// reportConnected tells Presence of the connection after its CONNACK.
func (c *Conn) reportConnected(at time.Time) {
	if c.env.Presence == nil {
		return
	}
	id := c.Identity()
	did := id.Device
	if did == "" {
		did = c.key.ClientID
	}
	err := c.env.Presence.Connected(context.Background(), presence.Status{
		TenantID: c.key.Tenant, DeviceID: did, ClientID: c.key.ClientID, Gateway: c.env.GatewayID,
		RemoteAddr: c.remote(), Protocol: int(c.version), ConnectedAt: at,
	})
	if err != nil {
		c.logger().Warn(fmt.Sprintf("could not report client %s of tenant %s as connected", c.key.ClientID, c.key.Tenant), "err", err)
		return
	}
	c.presenceOn = true
}

// reportDisconnected tells Presence that a reported connection ended.
func (c *Conn) reportDisconnected(reason CloseReason) {
	if !c.presenceOn {
		return
	}
	id := c.Identity()
	did := id.Device
	if did == "" {
		did = c.key.ClientID
	}
	if err := c.env.Presence.Disconnected(context.Background(), c.key.Tenant, did, c.key.ClientID, c.closeSentence(reason), c.env.now()); err != nil {
		c.logger().Warn(fmt.Sprintf("could not report client %s of tenant %s as disconnected", c.key.ClientID, c.key.Tenant), "err", err)
	}
}
