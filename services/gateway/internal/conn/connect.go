package conn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/session"
	"github.com/flockmq/flockmq/pkg/topic"
	"github.com/flockmq/flockmq/services/gateway/internal/bridge"
	"github.com/flockmq/flockmq/services/gateway/internal/router"
)

// maxClientIDLen bounds client identifiers; the spec requires at least 23
// bytes [MQTT-3.1.3-5] and allows more.
const maxClientIDLen = 256

// refuse queues a CONNACK with a failure code and returns the reason to
// close with [MQTT-3.2.2-6] [MQTT-3.2.2-7].
func (c *Conn) refuse(code mqtt.ReasonCode, err error) (CloseReason, error) {
	v := c.version
	if v == 0 {
		v = mqtt.V311
	}
	c.version = v
	c.sendControl(&mqtt.Connack{ReasonCode: code})
	return CloseHandshakeRefused, err
}

// The CONNACKs of MQTT 3.1 and 3.1.1, which carry nothing but the session
// present flag [MQTT-3.2.2-2] [MQTT-3.2.2-3]: shared and never modified,
// they cost a CONNECT no allocation.
var (
	connackNew     = &mqtt.Connack{}
	connackResumed = &mqtt.Connack{SessionPresent: true}
)

// handshake reads CONNECT, authenticates, claims the session and sends
// CONNACK. handshakeAside has set the read deadline of the CONNECT
// (Limits.ConnectTimeout from the start of the connection) and waited for
// its first bytes.
func (c *Conn) handshake() (CloseReason, error) {
	if k := CloseReason(c.killed.Load()); k != CloseNone {
		return k, nil
	}
	p, err := c.reader.ReadPacket()
	if err != nil {
		if k := CloseReason(c.killed.Load()); k != CloseNone {
			return k, nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return CloseConnectTimeout, nil
		}
		var rc mqtt.ReasonCode
		if !errors.As(err, &rc) {
			if errors.Is(err, io.EOF) {
				return CloseConnectionLost, nil
			}
			return CloseConnectionLost, err
		}
		if cp, ok := p.(*mqtt.Connect); ok && cp != nil {
			switch {
			case rc == mqtt.UnsupportedProtocolVersion:
				// [MQTT-3.1.2-2] answer 0x01 in the 3.1.1 format, then close.
				c.version = mqtt.V311
				c.refuse(mqtt.UnsupportedProtocolVersion, err)
				return CloseHandshakeRefused, err
			case cp.Version == mqtt.V5:
				// [MQTT-3.1.4-1] a malformed CONNECT: CONNACK with the reason, then close.
				c.version = mqtt.V5
				c.refuse(rc, err)
				return reasonFor(rc), err
			}
		}
		return reasonFor(rc), err
	}
	cp, ok := p.(*mqtt.Connect)
	if !ok {
		// [MQTT-3.1.0-1] the first packet must be CONNECT.
		return CloseProtocolError, fmt.Errorf("first packet was %s, not CONNECT", p.Type())
	}
	c.version = cp.Version
	c.reader.SetVersion(cp.Version)
	v5 := cp.Version == mqtt.V5
	lim := &c.env.Limits

	// Client identifier [MQTT-3.1.3-6] [MQTT-3.1.3-8].
	// An empty one is assigned after authentication: the device id the
	// credentials name when there is one, else a random id.
	clientID, assigned := cp.ClientID, false
	if clientID == "" && cp.Version != mqtt.V5 && (!cp.CleanStart || cp.Version == mqtt.V31) {
		return c.refuse(mqtt.ClientIDNotValid, errors.New("empty client identifier without clean session"))
	}
	if len(clientID) > maxClientIDLen || !utf8.ValidString(clientID) {
		return c.refuse(mqtt.ClientIDNotValid, fmt.Errorf("client identifier of %d bytes refused", len(clientID)))
	}

	// Authentication: the tenant comes only from the verified identity.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := c.env.Auth.Authenticate(ctx, auth.Request{
		ClientID: clientID, Username: cp.Username, Password: cp.Password,
		AuthMethod: cp.Properties.AuthMethod, AuthData: cp.Properties.AuthData, RemoteAddr: c.remote(),
	})
	if err != nil {
		code := mqtt.ServerUnavailable
		switch {
		case errors.Is(err, auth.ErrBadCredentials):
			code = mqtt.BadUsernameOrPassword
		case errors.Is(err, auth.ErrNotAuthorized):
			code = mqtt.NotAuthorized
		case errors.Is(err, auth.ErrBadMethod):
			code = mqtt.BadAuthenticationMethod
		}
		who := "client " + clientID
		if clientID == "" {
			who = "a client without a client id"
		}
		c.logger().Info(fmt.Sprintf("refused %s from %s: %v", who, c.remote(), err), "client_id", clientID, "err", err)
		return c.refuse(code, err)
	}
	if !bridge.ValidTenant(id.Tenant) {
		c.logger().Error("the authenticator returned an invalid tenant id", "client_id", clientID, "tenant_id", id.Tenant)
		return c.refuse(mqtt.NotAuthorized, fmt.Errorf("invalid tenant id %q", id.Tenant))
	}
	if clientID == "" {
		clientID, assigned = id.Device, true
		if clientID == "" {
			clientID = newClientID()
		}
		if id.Device == "" {
			id.Device = clientID
		}
	}
	c.key = session.Key{Tenant: id.Tenant, ClientID: clientID}
	c.setIdentity(id)
	if v5 && cp.Properties.AuthMethod != "" {
		c.dl().authMethod = cp.Properties.AuthMethod
	}

	// A client just cut off for its publish rate waits a moment.
	if c.env.Cooldowns != nil && c.env.Cooldowns.active(c.key, c.env.now()) {
		c.logger().Info(fmt.Sprintf("refused client %s of tenant %s: it reconnected within %s of being disconnected for its publish rate",
			clientID, id.Tenant, RateCooldown))
		return c.refuse(mqtt.ConnectionRateExceeded, errors.New("reconnected during its rate cooldown"))
	}

	// The tenant's connection quota, before the session is claimed, so a
	// refused client takes over nothing.
	if c.env.Quotas != nil {
		c.quota = c.env.Quotas.For(id.Tenant)
		release, err := c.quota.AcquireConnection(clientID)
		if err != nil {
			if old := c.env.Registry.Lookup(session.Key{Tenant: id.Tenant, ClientID: clientID}); old != nil {
				// The client reconnects while its previous connection
				// still counts (half-open, say): the take-over would end
				// that one anyway [MQTT-3.1.4-3], so end it first and
				// let this one have its place.
				old.Kill(CloseTakenOver)
				select {
				case <-old.Done():
				case <-time.After(5 * time.Second):
				}
				release, err = c.quota.AcquireConnection(clientID)
			}
		}
		if err != nil {
			// MQTT 5 CONNACK 0x97; MQTT 3.1.1 return code 0x03 server
			// unavailable (the encoder maps it) [MQTT-3.2.2-5].
			c.logger().Warn(fmt.Sprintf("refused client %s of tenant %s: the tenant is at its connection limit of %d",
				clientID, id.Tenant, c.quota.Quotas().MaxConnections), "err", err)
			return c.refuse(mqtt.QuotaExceeded, err)
		}
		c.releaseConn = release
	}

	// The will [MQTT-3.1.2-8].
	if cp.Will != nil {
		if err := topic.ValidateName(cp.Will.Topic); err != nil {
			if !v5 {
				return CloseProtocolError, err
			}
			return c.refuse(mqtt.TopicNameInvalid, err)
		}
		if cp.Will.Retain && !lim.RetainAvailable {
			if !v5 {
				return CloseProtocolError, errors.New("will retain is not available")
			}
			return c.refuse(mqtt.RetainNotSupported, errors.New("will retain is not available")) // [MQTT-3.2.2-13]
		}
		c.will = willFromConnect(cp.Will, cp.Version)
	}

	// Keepalive [MQTT-3.1.2-22] and the v5 Server Keep Alive [MQTT-3.2.2-21].
	ka, serverKA := cp.KeepAlive, false
	if v5 {
		switch {
		case lim.ServerKeepAlive != 0:
			ka, serverKA = lim.ServerKeepAlive, ka != lim.ServerKeepAlive
		case lim.KeepAliveMax != 0 && (ka == 0 || ka > lim.KeepAliveMax):
			ka, serverKA = lim.KeepAliveMax, true
		case lim.KeepAliveMin != 0 && ka < lim.KeepAliveMin:
			ka, serverKA = lim.KeepAliveMin, true
		}
	}
	c.keepAlive = time.Duration(ka) * time.Second

	// Session expiry.
	var expiry uint32
	expiryClamped := false
	switch {
	case v5:
		expiry = cp.Properties.SessionExpiry
		if expiry > lim.SessionExpiryMax {
			expiry, expiryClamped = lim.SessionExpiryMax, true
		}
		if c.quota != nil {
			if q := c.quota.SessionExpiry(clientID, expiry); q != expiry {
				expiry, expiryClamped = q, true
			}
		}
	case !cp.CleanStart:
		expiry = lim.SessionExpiryMax
		if c.quota != nil {
			expiry = c.quota.SessionExpiry(clientID, expiry)
		}
	}
	c.expiry = expiry
	c.persistent = expiry > 0

	// Client limits.
	c.receiveMax = lim.MaxInflight
	if v5 {
		c.maxOutPacket = cp.Properties.MaximumPacketSize
		if rm := cp.Properties.ReceiveMaximum; rm != 0 && rm < c.receiveMax {
			c.receiveMax = rm
		}
		c.requestProblem = !cp.Properties.RequestProblemInfoSet || cp.Properties.RequestProblemInfo == 1
		if n := cp.Properties.TopicAliasMaximum; n > 0 && lim.OutTopicAliases {
			// A new table per network connection [MQTT-3.3.2-7]; none
			// when the client accepts no aliases [MQTT-3.1.2-27].
			c.outAliases = newOutAliases(n, true)
		}
	}

	// A client that gave up on this connection (a connect timeout, and it
	// dialled again) may have sent its CONNECT long before the gateway read
	// it, e.g. from a full accept queue during a reconnect storm. Taking
	// the session over for it would cut off the client's newer, live
	// connection: when its socket is already closed, stop here.
	if c.in.buffered() == 0 && peerClosed(c.nc) {
		return CloseConnectionLost, errors.New("the client closed the connection before its CONNECT was answered")
	}

	// Claim the session.
	now := c.env.now()
	claimed, err := c.env.Sessions.Claim(ctx, c.key, c.env.GatewayID, byte(cp.Version), cp.CleanStart, now)
	if err != nil {
		c.logger().Error("could not claim the session", "err", err)
		return c.refuse(mqtt.ServerUnavailable, err)
	}
	c.epoch = claimed.Epoch
	prev := claimed.Previous
	if c.takeOver(ctx, prev) && prev.Will != nil && (prev.Will.Delay == 0 || cp.CleanStart) {
		// The gateway that held the previous connection is gone, so it
		// closed without a DISCONNECT and nobody published its will
		// [MQTT-3.1.2-8]. A delayed will of a session this client now
		// resumes stays unsent, as if the client had come back in time.
		c.logger().Info(fmt.Sprintf("gateway %s that held client %s's previous connection is gone; publishing that connection's will", prev.Owner, c.key.ClientID))
		if err := c.env.Wills.Publish(ctx, c.key.Tenant, c.key.ClientID, prev.Will); err != nil {
			c.logger().Warn("could not publish the will of the previous connection", "err", err)
		}
	}
	if claimed.Expired != nil && claimed.Expired.Will != nil {
		if err := c.env.Wills.Publish(ctx, c.key.Tenant, c.key.ClientID, claimed.Expired.Will); err != nil {
			c.logger().Warn("could not publish the will of the expired session", "err", err)
		}
	}
	c.env.Wills.Cancel(c.key)
	if cp.CleanStart && prev != nil && !prev.Connected && prev.Will != nil {
		// The old session ends now: its pending delayed will is due [MQTT-3.1.3-9].
		if err := c.env.Wills.Publish(ctx, c.key.Tenant, c.key.ClientID, prev.Will); err != nil {
			c.logger().Warn("could not publish the will of the ended session", "err", err)
		}
	}
	if !cp.CleanStart && prev != nil && !prev.Connected && prev.WillTakeableAt(now) {
		// The will delay ended before the client came back, and no will
		// sweeper had taken the will yet; the claim took it from them.
		// It was due [MQTT-3.1.3-9].
		if err := c.env.Wills.Publish(ctx, c.key.Tenant, c.key.ClientID, prev.Will); err != nil {
			c.logger().Warn("could not publish the will of the resumed session's previous connection", "err", err)
		}
	}
	resumed := !cp.CleanStart && prev != nil
	if reason, err := c.initSession(ctx, prev, resumed); reason != CloseNone {
		return reason, err
	}

	ack := connackNew
	if resumed {
		ack = connackResumed
	}
	if v5 {
		ack = &mqtt.Connack{SessionPresent: resumed} // [MQTT-3.2.2-2] [MQTT-3.2.2-3]
		pr := &ack.Properties
		if assigned {
			pr.AssignedClientID = clientID // [MQTT-3.2.2-16]
		}
		if serverKA {
			pr.ServerKeepAlive, pr.ServerKeepAliveSet = ka, true
		}
		if expiryClamped {
			// The server's own Session Expiry Interval replaces the
			// client's (MQTT 5.0 section 3.2.2.3.2).
			pr.SessionExpiry, pr.SessionExpirySet = expiry, true
		}
		// Enhanced authentication: the CONNACK names the method the
		// CONNECT used [MQTT-4.12.0-5].
		pr.AuthMethod = c.authMethod()
		if lim.ReceiveMaximum != 65535 {
			pr.ReceiveMaximum = lim.ReceiveMaximum
		}
		pr.MaximumPacketSize = lim.MaxPacketSize
		pr.TopicAliasMaximum = lim.TopicAliasMaximum
		if !lim.RetainAvailable {
			pr.RetainAvailable, pr.RetainAvailableSet = 0, true
		}
		if !lim.WildcardAvailable {
			pr.WildcardSubAvailable, pr.WildcardSubAvailableSet = 0, true
		}
		if !lim.SubIDsAvailable {
			pr.SubIDAvailable, pr.SubIDAvailableSet = 0, true
		}
		if !lim.SharedAvailable {
			pr.SharedSubAvailable, pr.SharedSubAvailableSet = 0, true
		}
	}
	c.sendControl(ack)
	c.connacked = true
	c.logConnect(cp, resumed)
	c.watchToken(id.ExpiresAt)
	c.reportConnected(now)

	if resumed {
		c.startResume(prev)
	}
	return CloseNone, nil
}

// takeOver closes the connection that held the session before. It reports
// whether that connection was on another gateway that no longer answers.
func (c *Conn) takeOver(ctx context.Context, prev *session.State) (ownerGone bool) {
	if old := c.env.Registry.Swap(c.key, c); old != nil {
		old.Kill(CloseTakenOver) // [MQTT-3.1.4-3]
		select {
		case <-old.Done():
		case <-time.After(5 * time.Second):
		}
	}
	if prev == nil || !prev.Connected || prev.Owner == c.env.GatewayID {
		return false
	}
	err := c.env.Bridge.Kick(ctx, prev.Owner, bridge.Kick{
		Tenant: c.key.Tenant, ClientID: c.key.ClientID, Epoch: c.epoch, Reason: byte(mqtt.SessionTakenOver),
	})
	if errors.Is(err, bridge.ErrNotFound) {
		return true
	}
	if err != nil {
		c.logger().Warn(fmt.Sprintf("could not ask gateway %s to close the previous connection of client %s", prev.Owner, c.key.ClientID), "err", err)
	}
	return false
}

// initSession writes the new connection's settings into the store and
// restores a resumed session's in-flight state.
func (c *Conn) initSession(ctx context.Context, prev *session.State, resumed bool) (CloseReason, error) {
	st := c.env.Sessions
	key, epoch := c.key, c.epoch
	fail := func(err error) (CloseReason, error) {
		c.logger().Error("could not set up the session", "err", err)
		return c.refuse(mqtt.ServerUnavailable, err)
	}
	if c.expiry != 0 || (resumed && prev.ExpiryInterval != 0) {
		if err := st.SetExpiry(ctx, key, epoch, c.expiry); err != nil {
			return fail(err)
		}
	}
	// The will is stored even when the session ends with the connection:
	// if this gateway dies, the sweeper of another publishes it from the
	// store [MQTT-3.1.2-8].
	if c.will != nil || (resumed && prev.Will != nil) {
		if err := st.SetWill(ctx, key, epoch, c.will); err != nil {
			return fail(err)
		}
	}
	if !resumed {
		if c.persistent {
			seq, err := c.env.Bridge.LastSeq(ctx, key.Tenant)
			if err != nil {
				return fail(err)
			}
			if err := st.SetLastSeq(ctx, key, epoch, seq); err != nil {
				return fail(err)
			}
			c.dl().lastSeq, c.dl().maxSeq = seq, seq
		}
		return CloseNone, nil
	}
	c.dl().lastSeq, c.dl().maxSeq = prev.LastSeq, prev.LastSeq
	for _, f := range prev.Inflight {
		switch f.Direction {
		case session.Inbound:
			if f.State == session.AwaitStore {
				// Recorded before its publish; a resent copy is
				// published again idempotently (qos2.go).
				if c.dl().inboundNonce == nil {
					c.dl().inboundNonce = make(map[uint16]uint64)
				}
				c.dl().inboundNonce[f.PacketID] = f.Seq
				continue
			}
			setMap(&c.dl().inboundQoS2, f.PacketID, true)
		case session.Outbound:
			setMap(&c.dl().inflight, f.PacketID, &outFlight{seq: f.Seq, qos: f.QoS, state: f.State})
			if f.Seq > 0 {
				setMap(&c.dl().outstanding, f.Seq, c.dl().outstanding[f.Seq]+1)
				c.dl().maxSeq = max(c.dl().maxSeq, f.Seq)
			}
			c.dl().nextID = max(c.dl().nextID, f.PacketID)
		}
	}
	return CloseNone, nil
}

// startResume subscribes the stored subscriptions again and starts the
// goroutine that resends and replays.
func (c *Conn) startResume(prev *session.State) {
	c.mu.Lock()
	c.dl().resuming = true
	c.mu.Unlock()
	c.subsMu.Lock()
	for _, s := range prev.Subscriptions {
		sub := &router.Sub{Client: c, ClientID: c.key.ClientID, Options: s}
		if err := c.env.Router.Add(c.key.Tenant, sub); err != nil {
			c.logger().Warn(fmt.Sprintf("could not restore the subscription to %q", s.Filter), "err", err)
			continue
		}
		setMap(&c.subs, s.Filter, sub)
	}
	c.subsMu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	c.dl().rs = &resumeRun{ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go c.resume(prev)
}

// logConnect writes the line that says who connected and how.
func (c *Conn) logConnect(cp *mqtt.Connect, resumed bool) {
	if !c.env.Log.Enabled(context.Background(), slog.LevelInfo) {
		return // a reconnect storm at warn level formats nothing
	}
	var b strings.Builder
	fmt.Fprintf(&b, "client %s of tenant %s connected from %s with MQTT %s", c.key.ClientID, c.key.Tenant, c.remote(), versionName(c.version))
	if c.keepAlive > 0 {
		fmt.Fprintf(&b, ", keepalive %s", c.keepAlive)
	} else {
		b.WriteString(", no keepalive")
	}
	switch {
	case cp.CleanStart:
		b.WriteString(", clean start")
	case resumed:
		b.WriteString(", resuming its session")
	default:
		b.WriteString(", new session")
	}
	switch {
	case c.expiry == session.NeverExpire:
		b.WriteString(", session never expires")
	case c.expiry > 0:
		fmt.Fprintf(&b, ", session expiry %s", time.Duration(c.expiry)*time.Second)
	}
	if c.will != nil {
		fmt.Fprintf(&b, ", will on %q", c.will.Topic)
	}
	c.logger().Info(b.String(), "protocol", int(c.version))
}

func versionName(v mqtt.Version) string {
	switch v {
	case mqtt.V5:
		return "5"
	case mqtt.V311:
		return "3.1.1"
	case mqtt.V31:
		return "3.1"
	}
	return v.String()
}

// newClientID returns an identifier for a client that sent none.
func newClientID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "auto-" + hex.EncodeToString(b[:])
}
