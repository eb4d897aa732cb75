package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/pkg/auth"
	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/presence"
	"github.com/flockmq/flockmq/pkg/session/memstore"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/gateway"
)

// tenantByUsername authenticates every client as device <client id> of
// the tenant named by its username.
var tenantByUsername = auth.AuthenticatorFunc(func(_ context.Context, req auth.Request) (auth.Identity, error) {
	if !tenant.ValidTenantID(req.Username) {
		return auth.Identity{}, auth.ErrBadCredentials
	}
	return auth.Identity{Tenant: req.Username, Device: req.ClientID}, nil
})

// startQuotaGateway runs a gateway whose tenants are named by the MQTT
// username, with quota overrides per tenant.
func startQuotaGateway(tb testing.TB, overrides map[string]tenant.Quotas, mutate ...func(*gateway.LimitsConfig)) *testGateway {
	tb.Helper()
	cfg := gateway.LimitsConfig{GatewayID: "gw1"}
	for _, m := range mutate {
		m(&cfg)
	}
	return startGatewaysDeps(tb, 1, memstore.New(), func(d *gateway.Deps) {
		lim, err := gateway.NewLimits(cfg, gateway.LimitsDeps{
			Logger: d.Logger,
			Overrides: func(tid string) (tenant.Quotas, bool) {
				q, ok := overrides[tid]
				return q, ok
			},
		})
		if err != nil {
			tb.Fatalf("NewLimits: %v", err)
		}
		d.Limits = lim
		d.Auth = tenantByUsername
	})[0]
}

func withUsername(u string) func(*mqtt.Connect) {
	return func(cp *mqtt.Connect) { cp.Username, cp.UsernameSet = u, true }
}

func TestConnectionQuota(t *testing.T) {
	g := startQuotaGateway(t, map[string]tenant.Quotas{"noisy": {MaxConnections: 2}})
	first := connectClient(t, g, mqtt.V5, "n1", true, withUsername("noisy"))
	connectClient(t, g, mqtt.V311, "n2", true, withUsername("noisy"))

	// [MQTT-3.2.2-6] MQTT 5: CONNACK 0x97 quota exceeded, then close.
	c := dial(t, g.addr, mqtt.V5)
	if ack := c.connect(&mqtt.Connect{ClientID: "n3", CleanStart: true, Username: "noisy", UsernameSet: true}); ack.ReasonCode != mqtt.QuotaExceeded {
		t.Fatalf("third connection: CONNACK %v, want 0x97 quota exceeded", ack.ReasonCode)
	}
	c.expectClosed()
	// [MQTT-3.2.2-5] MQTT 3.1.1: return code 0x03 server unavailable.
	c = dial(t, g.addr, mqtt.V311)
	if ack := c.connect(&mqtt.Connect{ClientID: "n4", CleanStart: true, Username: "noisy", UsernameSet: true}); ack.ReasonCode != mqtt.ServerUnavailable {
		t.Fatalf("third 3.1.1 connection: CONNACK %v, want return code 3 server unavailable", ack.ReasonCode)
	}
	c.expectClosed()
	checkFor(t, 5*time.Second, func() error {
		return logContains(g, "refused client n3 of tenant noisy: the tenant is at its connection limit of 2")
	})

	// A noisy tenant at its limit does not affect another tenant.
	for i := range 3 {
		connectClient(t, g, mqtt.V5, fmt.Sprintf("q%d", i), true, withUsername("quiet")).ping()
	}

	// A closed connection gives its slot back.
	first.send(&mqtt.Disconnect{})
	first.expectClosed()
	checkFor(t, 5*time.Second, func() error {
		c := dial(t, g.addr, mqtt.V5)
		ack := c.connect(&mqtt.Connect{ClientID: "n5", CleanStart: true, Username: "noisy", UsernameSet: true})
		if ack.ReasonCode != mqtt.Success {
			return fmt.Errorf("CONNACK %v", ack.ReasonCode)
		}
		return nil
	})
}

func TestSubscriptionQuota(t *testing.T) {
	g := startQuotaGateway(t, map[string]tenant.Quotas{"acme": {MaxSubscriptionsPerDevice: 2}})
	for _, ver := range versions {
		c := connectClient(t, g, ver.v, "s-"+ver.name, true, withUsername("acme"))
		// [MQTT-3.9.3-2] one reason code per filter: the third new filter
		// is over the quota (v5 0x97; 3.1.1 0x80 [MQTT-3.8.4-5]).
		sa := c.subscribe(1, mqtt.Subscription{Filter: "a"}, mqtt.Subscription{Filter: "b", QoS: 1}, mqtt.Subscription{Filter: "c"})
		want := mqtt.QuotaExceeded
		if ver.v != mqtt.V5 {
			want = mqtt.UnspecifiedError
		}
		if len(sa.ReasonCodes) != 3 || sa.ReasonCodes[0] != mqtt.GrantedQoS0 || sa.ReasonCodes[1] != mqtt.GrantedQoS1 || sa.ReasonCodes[2] != want {
			t.Fatalf("%s: SUBACK %v, want [granted QoS 0, granted QoS 1, %v]", ver.name, sa.ReasonCodes, want)
		}
		// Replacing a subscription adds none [MQTT-3.8.4-3].
		sa = c.subscribe(2, mqtt.Subscription{Filter: "a", QoS: 1})
		if len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] != mqtt.GrantedQoS1 {
			t.Fatalf("%s: replacing SUBACK %v, want [granted QoS 1]", ver.name, sa.ReasonCodes)
		}
		// After an UNSUBSCRIBE there is room again.
		c.send(&mqtt.Unsubscribe{PacketID: 3, Filters: []string{"b"}})
		c.expectType(mqtt.UNSUBACK)
		sa = c.subscribe(4, mqtt.Subscription{Filter: "c"})
		if len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] != mqtt.GrantedQoS0 {
			t.Fatalf("%s: SUBACK after UNSUBSCRIBE %v, want [granted QoS 0]", ver.name, sa.ReasonCodes)
		}
	}
}

func TestSessionExpiryQuota(t *testing.T) {
	g := startQuotaGateway(t, map[string]tenant.Quotas{"acme": {MaxSessionExpirySeconds: 60}})
	c := dial(t, g.addr, mqtt.V5)
	cp := &mqtt.Connect{ClientID: "e1", CleanStart: true, Username: "acme", UsernameSet: true}
	cp.Properties.SessionExpiry, cp.Properties.SessionExpirySet = 3600, true
	ack := c.connect(cp)
	// The CONNACK carries the granted Session Expiry Interval when it
	// differs from the request (MQTT 5.0 section 3.2.2.3.2).
	if ack.ReasonCode != mqtt.Success || !ack.Properties.SessionExpirySet || ack.Properties.SessionExpiry != 60 {
		t.Fatalf("CONNACK %v, want success with session expiry 60", ack)
	}
	// A request within the quota is granted as is.
	c = dial(t, g.addr, mqtt.V5)
	cp = &mqtt.Connect{ClientID: "e2", CleanStart: true, Username: "acme", UsernameSet: true}
	cp.Properties.SessionExpiry, cp.Properties.SessionExpirySet = 30, true
	if ack := c.connect(cp); ack.ReasonCode != mqtt.Success || ack.Properties.SessionExpirySet {
		t.Fatalf("CONNACK %v, want success without a session expiry", ack)
	}
}

func TestPresence(t *testing.T) {
	var rep *presence.Reporter
	g := startGatewaysDeps(t, 1, memstore.New(), func(d *gateway.Deps) {
		js, err := jetstream.New(d.NATS)
		if err != nil {
			t.Fatalf("jetstream: %v", err)
		}
		rep, err = presence.NewReporter(js, presence.Config{GatewayID: "gw1"}, d.Logger)
		if err != nil {
			t.Fatalf("NewReporter: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = rep.Run(ctx)
		}()
		t.Cleanup(func() { cancel(); <-done })
		d.Presence = rep
	})[0]
	js, err := jetstream.New(g.nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	rd, err := presence.NewReader(js, presence.Config{})
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	status := func(did string, check func(presence.Status) error) {
		t.Helper()
		checkFor(t, 10*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			st, err := rd.Get(ctx, "acme", did)
			if err != nil {
				return err
			}
			return check(st)
		})
	}

	c := connectClient(t, g, mqtt.V5, "sensor-1", true)
	status("sensor-1", func(st presence.Status) error {
		if !st.Connected || st.ClientID != "sensor-1" || st.Gateway != "gw1" || st.Protocol != 5 || st.RemoteAddr == "" || st.ConnectedAt.IsZero() {
			return fmt.Errorf("status %+v, want connected to gw1 with MQTT 5", st)
		}
		return nil
	})
	c.send(&mqtt.Disconnect{})
	c.expectClosed()
	status("sensor-1", func(st presence.Status) error {
		if st.Connected || st.LastDisconnectReason != "client sent DISCONNECT" || st.DisconnectedAt == nil {
			return fmt.Errorf("status %+v, want disconnected because the client sent DISCONNECT", st)
		}
		return nil
	})

	connectClient(t, g, mqtt.V311, "sensor-2", true)
	status("sensor-2", func(st presence.Status) error {
		if !st.Connected || st.Protocol != 4 {
			return fmt.Errorf("status %+v, want connected with MQTT 3.1.1", st)
		}
		return nil
	})
	g.srv.Revoke(auth.Revocation{Tenant: "acme", Device: "sensor-2"})
	status("sensor-2", func(st presence.Status) error {
		if st.Connected || st.LastDisconnectReason != "credentials revoked" {
			return fmt.Errorf("status %+v, want disconnected because its credentials were revoked", st)
		}
		return nil
	})

	// A session taken over by a new connection.
	connectClient(t, g, mqtt.V5, "sensor-3", true)
	connectClient(t, g, mqtt.V5, "sensor-3", true)
	status("sensor-3", func(st presence.Status) error {
		if !st.Connected || st.LastDisconnectReason != "session taken over by a new connection" || len(st.Connections) != 1 {
			return fmt.Errorf("status %+v, want connected once, the previous connection taken over", st)
		}
		return nil
	})
}

// expiringAuth authenticates every client of tenant acme with a token
// that expires after ttl.
func expiringAuth(ttl time.Duration) auth.Authenticator {
	return auth.AuthenticatorFunc(func(_ context.Context, req auth.Request) (auth.Identity, error) {
		return auth.Identity{Tenant: "acme", Device: req.ClientID, ExpiresAt: time.Now().Add(ttl)}, nil
	})
}

func TestTokenExpiry(t *testing.T) {
	g := startGatewaysDeps(t, 1, memstore.New(), func(d *gateway.Deps) {
		d.Auth = expiringAuth(200 * time.Millisecond)
	})[0]
	v5 := connectClient(t, g, mqtt.V5, "short-5", true)
	v311 := connectClient(t, g, mqtt.V311, "short-311", true)
	// MQTT 5: DISCONNECT 0x87 not authorized, then close.
	pkts := v5.expectClosed()
	if len(pkts) != 1 || pkts[0].Type() != mqtt.DISCONNECT || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.NotAuthorized {
		t.Fatalf("MQTT 5 client got %v, want DISCONNECT 0x87", pkts)
	}
	// MQTT 3.1.1: the connection is closed.
	if pkts := v311.expectClosed(); len(pkts) != 0 {
		t.Fatalf("MQTT 3.1.1 client got %v, want the connection closed", pkts)
	}
	checkFor(t, 5*time.Second, func() error {
		return errors.Join(
			logContains(g, "client short-5 of tenant acme disconnected: its token expired at "),
			logContains(g, "client short-311 of tenant acme disconnected: its token expired at "))
	})
}

// jwtLikeAuth is an authenticator for the enhanced-authentication tests:
// method FLOCK-JWT with data "short" (expires in 300ms) or "long" (an
// hour) authenticates device <client id> of tenant acme; "other" names
// another device; any other data is refused, any other method unsupported.
type jwtLikeAuth struct{}

func (jwtLikeAuth) Authenticate(_ context.Context, req auth.Request) (auth.Identity, error) {
	if req.AuthMethod == "" {
		return auth.Identity{Tenant: "acme", Device: req.ClientID}, nil
	}
	if req.AuthMethod != "FLOCK-JWT" {
		return auth.Identity{}, fmt.Errorf("method %q: %w", req.AuthMethod, auth.ErrBadMethod)
	}
	id := auth.Identity{Tenant: "acme", Device: req.ClientID}
	switch string(req.AuthData) {
	case "short":
		id.ExpiresAt = time.Now().Add(300 * time.Millisecond)
	case "long":
		id.ExpiresAt = time.Now().Add(time.Hour)
	case "other":
		id.Device = "someone-else"
	default:
		return auth.Identity{}, auth.ErrNotAuthorized
	}
	return id, nil
}

func enhanced(data string) func(*mqtt.Connect) {
	return func(cp *mqtt.Connect) {
		cp.Properties.AuthMethod, cp.Properties.AuthData = "FLOCK-JWT", []byte(data)
	}
}

func TestEnhancedAuthentication(t *testing.T) {
	g := startGatewaysDeps(t, 1, memstore.New(), func(d *gateway.Deps) { d.Auth = jwtLikeAuth{} })[0]

	t.Run("connack names the method", func(t *testing.T) {
		c := dial(t, g.addr, mqtt.V5)
		cp := &mqtt.Connect{ClientID: "e-ok", CleanStart: true}
		enhanced("long")(cp)
		ack := c.connect(cp)
		// [MQTT-4.12.0-5] the CONNACK carries the CONNECT's method.
		if ack.ReasonCode != mqtt.Success || ack.Properties.AuthMethod != "FLOCK-JWT" {
			t.Fatalf("CONNACK %v, want success with method FLOCK-JWT", ack)
		}
	})
	t.Run("unsupported method", func(t *testing.T) {
		c := dial(t, g.addr, mqtt.V5)
		cp := &mqtt.Connect{ClientID: "e-scram", CleanStart: true}
		cp.Properties.AuthMethod = "SCRAM-SHA-256"
		// [MQTT-4.12.0-1] CONNACK 0x8C, then close.
		if ack := c.connect(cp); ack.ReasonCode != mqtt.BadAuthenticationMethod {
			t.Fatalf("CONNACK %v, want 0x8C", ack.ReasonCode)
		}
		c.expectClosed()
	})
	t.Run("re-authentication extends the session", func(t *testing.T) {
		c := connectClient(t, g, mqtt.V5, "e-reauth", true, enhanced("short"))
		start := time.Now()
		// [MQTT-4.12.1-1] AUTH 0x19 with the same method.
		c.send(&mqtt.Auth{ReasonCode: mqtt.ReAuthenticate, Properties: mqtt.Properties{AuthMethod: "FLOCK-JWT", AuthData: []byte("long")}})
		a := c.expectType(mqtt.AUTH).(*mqtt.Auth)
		if a.ReasonCode != mqtt.Success || a.Properties.AuthMethod != "FLOCK-JWT" {
			t.Fatalf("AUTH %v, want 0x00 with method FLOCK-JWT", a)
		}
		// The first token's expiry passes; the connection stays up.
		checkFor(t, 5*time.Second, func() error {
			if time.Since(start) < 600*time.Millisecond {
				return errors.New("the first token has not expired yet")
			}
			return nil
		})
		c.ping()
		if err := logContains(g, "client e-reauth of tenant acme re-authenticated; its token now expires at"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("failed re-authentication", func(t *testing.T) {
		c := connectClient(t, g, mqtt.V5, "e-bad", true, enhanced("long"))
		c.send(&mqtt.Auth{ReasonCode: mqtt.ReAuthenticate, Properties: mqtt.Properties{AuthMethod: "FLOCK-JWT", AuthData: []byte("forged")}})
		// [MQTT-4.12.1-2] DISCONNECT 0x87 and close.
		if pkts := c.expectClosed(); len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.NotAuthorized {
			t.Fatalf("got %v, want DISCONNECT 0x87", pkts)
		}
	})
	t.Run("re-authentication as another device", func(t *testing.T) {
		c := connectClient(t, g, mqtt.V5, "e-other", true, enhanced("long"))
		c.send(&mqtt.Auth{ReasonCode: mqtt.ReAuthenticate, Properties: mqtt.Properties{AuthMethod: "FLOCK-JWT", AuthData: []byte("other")}})
		if pkts := c.expectClosed(); len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.NotAuthorized {
			t.Fatalf("got %v, want DISCONNECT 0x87", pkts)
		}
	})
	t.Run("re-authentication with another method", func(t *testing.T) {
		c := connectClient(t, g, mqtt.V5, "e-method", true, enhanced("long"))
		c.send(&mqtt.Auth{ReasonCode: mqtt.ReAuthenticate, Properties: mqtt.Properties{AuthMethod: "SCRAM-SHA-256", AuthData: []byte("x")}})
		// [MQTT-4.12.1-1] the same method is required; breaking that rule
		// is a protocol error (0x8C is not a DISCONNECT reason code).
		if pkts := c.expectClosed(); len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.ProtocolError {
			t.Fatalf("got %v, want DISCONNECT 0x82", pkts)
		}
	})
	t.Run("AUTH without enhanced authentication", func(t *testing.T) {
		c := connectClient(t, g, mqtt.V5, "e-plain", true)
		c.send(&mqtt.Auth{ReasonCode: mqtt.ReAuthenticate, Properties: mqtt.Properties{AuthMethod: "FLOCK-JWT", AuthData: []byte("long")}})
		// [MQTT-4.12.0-7] a protocol error.
		if pkts := c.expectClosed(); len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.ProtocolError {
			t.Fatalf("got %v, want DISCONNECT 0x82", pkts)
		}
	})
	t.Run("AUTH continue without an exchange", func(t *testing.T) {
		c := connectClient(t, g, mqtt.V5, "e-cont", true, enhanced("long"))
		c.send(&mqtt.Auth{ReasonCode: mqtt.ContinueAuthentication, Properties: mqtt.Properties{AuthMethod: "FLOCK-JWT", AuthData: []byte("long")}})
		if pkts := c.expectClosed(); len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.ProtocolError {
			t.Fatalf("got %v, want DISCONNECT 0x82", pkts)
		}
	})
}

func TestRetainedQuotaFollowsTenantQuota(t *testing.T) {
	g := startQuotaGateway(t, map[string]tenant.Quotas{"acme": {MaxRetained: 1}})
	c := connectClient(t, g, mqtt.V5, "r1", true, withUsername("acme"))
	c.send(&mqtt.Publish{Topic: "r/1", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("kept")})
	if a := c.expectType(mqtt.PUBACK).(*mqtt.Puback); a.ReasonCode != mqtt.Success {
		t.Fatalf("first retained message: PUBACK %v, want success", a.ReasonCode)
	}
	// The tenant's retained stream holds MaxRetained topics: a new one is
	// refused with 0x97 [MQTT-3.3.1-5].
	c.send(&mqtt.Publish{Topic: "r/2", QoS: 1, PacketID: 2, Retain: true, Payload: []byte("refused")})
	if a := c.expectType(mqtt.PUBACK).(*mqtt.Puback); a.ReasonCode != mqtt.QuotaExceeded {
		t.Fatalf("second retained topic: PUBACK %v, want 0x97 quota exceeded", a.ReasonCode)
	}
	// Replacing the retained message of a topic that has one is allowed.
	c.send(&mqtt.Publish{Topic: "r/1", QoS: 1, PacketID: 3, Retain: true, Payload: []byte("replaced")})
	if a := c.expectType(mqtt.PUBACK).(*mqtt.Puback); a.ReasonCode != mqtt.Success {
		t.Fatalf("replacing the retained message: PUBACK %v, want success", a.ReasonCode)
	}
}

func TestReplayGapIsLogged(t *testing.T) {
	g := startQuotaGateway(t, map[string]tenant.Quotas{"acme": {MaxQueuedMessages: 2}})
	persistent := func(cp *mqtt.Connect) {
		cp.Username, cp.UsernameSet = "acme", true
		cp.Properties.SessionExpiry, cp.Properties.SessionExpirySet = 3600, true
	}
	sub := connectClient(t, g, mqtt.V5, "offline", true, persistent)
	sub.subscribe(1, mqtt.Subscription{Filter: "gap/#", QoS: 1})
	sub.send(&mqtt.Disconnect{})
	sub.expectClosed()

	pub := connectClient(t, g, mqtt.V5, "pub", true, withUsername("acme"))
	for i := range 5 {
		pub.publish(&mqtt.Publish{Topic: "gap/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	// The tenant's durable stream keeps the newest MaxQueuedMessages.
	sub = connectClient(t, g, mqtt.V5, "offline", false, persistent)
	for _, want := range []string{"3", "4"} {
		if got := sub.expectPublish(); string(got.Payload) != want {
			t.Fatalf("replayed %q, want %q", got.Payload, want)
		}
	}
	checkFor(t, 5*time.Second, func() error {
		return logContains(g, "client offline of tenant acme missed 3 messages while offline because the tenant's queue limit discarded them")
	})
}

func TestConnectionQuotaAllowsTakeOver(t *testing.T) {
	g := startQuotaGateway(t, map[string]tenant.Quotas{"acme": {MaxConnections: 1}})
	old := connectClient(t, g, mqtt.V5, "d1", true, withUsername("acme"))
	// The same client reconnecting at the limit takes its own place over
	// [MQTT-3.1.4-3]; another client is still refused.
	connectClient(t, g, mqtt.V5, "d1", true, withUsername("acme")).ping()
	if pkts := old.expectClosed(); len(pkts) != 1 || pkts[0].(*mqtt.Disconnect).ReasonCode != mqtt.SessionTakenOver {
		t.Fatalf("previous connection got %v, want DISCONNECT 0x8E", pkts)
	}
	c := dial(t, g.addr, mqtt.V5)
	if ack := c.connect(&mqtt.Connect{ClientID: "d2", CleanStart: true, Username: "acme", UsernameSet: true}); ack.ReasonCode != mqtt.QuotaExceeded {
		t.Fatalf("another client: CONNACK %v, want 0x97", ack.ReasonCode)
	}
}

func TestApplyLimitsTakesAQuotaChange(t *testing.T) {
	var mu sync.Mutex
	quotas := tenant.Quotas{MaxRetained: 1}
	g := startGatewaysDeps(t, 1, memstore.New(), func(d *gateway.Deps) {
		lim, err := gateway.NewLimits(gateway.LimitsConfig{GatewayID: "gw1"}, gateway.LimitsDeps{
			Overrides: func(string) (tenant.Quotas, bool) {
				mu.Lock()
				defer mu.Unlock()
				return quotas, true
			},
		})
		if err != nil {
			t.Fatalf("NewLimits: %v", err)
		}
		d.Limits = lim
	})[0]
	c := connectClient(t, g, mqtt.V5, "r", true)
	retain := func(id uint16, topic string) mqtt.ReasonCode {
		c.send(&mqtt.Publish{Topic: topic, QoS: 1, PacketID: id, Retain: true, Payload: []byte("x")})
		return c.expectType(mqtt.PUBACK).(*mqtt.Puback).ReasonCode
	}
	if rc := retain(1, "a"); rc != mqtt.Success {
		t.Fatalf("first retained topic: PUBACK %v, want success", rc)
	}
	if rc := retain(2, "b"); rc != mqtt.QuotaExceeded {
		t.Fatalf("second retained topic: PUBACK %v, want 0x97", rc)
	}
	mu.Lock()
	quotas.MaxRetained = 2
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.srv.ApplyLimits(ctx, "acme"); err != nil {
		t.Fatalf("ApplyLimits: %v", err)
	}
	if rc := retain(3, "b"); rc != mqtt.Success {
		t.Fatalf("second retained topic after raising the quota: PUBACK %v, want success", rc)
	}
}

// TestRateCooldown: a client disconnected for publishing over its tenant's
// rate (0x96; throttling is off here, so the first publish over the rate
// is refused) is refused for a moment when it reconnects at once (CONNACK
// 0x9F), then let in again; other clients of the tenant are not affected.
func TestRateCooldown(t *testing.T) {
	g := startQuotaGateway(t, map[string]tenant.Quotas{"noisy": {MaxMessagesPerSecond: 5}},
		func(c *gateway.LimitsConfig) { c.MaxThrottle = -1 })
	c := connectClient(t, g, mqtt.V5, "flooder", true, withUsername("noisy"))
	for i := range 50 {
		b, _ := mqtt.Append(nil, &mqtt.Publish{Topic: "f/" + strconv.Itoa(i), Payload: []byte("x")}, mqtt.V5)
		if _, err := c.nc.Write(b); err != nil {
			break // already cut off
		}
	}
	pkts := c.expectClosed()
	if len(pkts) == 0 || pkts[len(pkts)-1].Type() != mqtt.DISCONNECT || pkts[len(pkts)-1].(*mqtt.Disconnect).ReasonCode != mqtt.MessageRateTooHigh {
		t.Fatalf("flooder got %v, want DISCONNECT 0x96", pkts)
	}
	again := dial(t, g.addr, mqtt.V5)
	if ack := again.connect(&mqtt.Connect{ClientID: "flooder", CleanStart: true, Username: "noisy", UsernameSet: true}); ack.ReasonCode != mqtt.ConnectionRateExceeded {
		t.Fatalf("immediate reconnect: CONNACK %v, want 0x9F", ack)
	}
	connectClient(t, g, mqtt.V5, "bystander", true, withUsername("noisy"))
	checkFor(t, 5*time.Second, func() error {
		cl := dial(t, g.addr, mqtt.V5)
		if ack := cl.connect(&mqtt.Connect{ClientID: "flooder", CleanStart: true, Username: "noisy", UsernameSet: true}); ack.ReasonCode != mqtt.Success {
			return fmt.Errorf("reconnect after the cooldown: CONNACK %v", ack)
		}
		return nil
	})
}
