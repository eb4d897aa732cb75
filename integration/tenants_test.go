//go:build integration

package integration

// The tenant journey end to end: tenants sign up through the control plane
// API, register devices and get tokens, connect with mosquitto and paho
// clients presenting those tokens, exchange messages inside a tenant and
// never across tenants; bad tokens are refused, and revocations end live
// sessions. flockd runs with anonymous access off, so every connection here
// is authenticated by a JWT the gateway verifies locally.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/pkg/auth/jwtauth"
	"github.com/flockmq/flockmq/pkg/mqtt"
)

// MQTT 5 reason codes and MQTT 3.1.1 return codes of a refused CONNECT.
const (
	v5BadCredentials       = 0x86 // Bad User Name or Password
	v5NotAuthorized        = 0x87 // Not authorized
	v3BadCredentials       = 0x04 // Connection Refused, bad user name or password
	v3NotAuthorized        = 0x05 // Connection Refused, not authorized
	v5AdministrativeAction = 0x98 // Administrative action
)

// tenants is two tenants, A and B, signed up on one flockd, with devices
// and a platform token for each device.
type tenants struct {
	s    *tenantServer
	a, b *account
	cred map[string]creds             // device id: client id = username = device id, password = its token
	tok  map[string]apiv1.IssuedToken // device id: its platform token
}

// newTenants signs up A with devicesA and B with devicesB, issues a token
// per device and waits until the gateway accepts every one.
func newTenants(t *testing.T, devicesA, devicesB []string) *tenants {
	t.Helper()
	s := startTenantServer(t)
	ts := &tenants{s: s, a: s.signup(t, "tenant-a"), b: s.signup(t, "tenant-b"),
		cred: map[string]creds{}, tok: map[string]apiv1.IssuedToken{}}
	if ts.a.id == ts.b.id || ts.a.platformKID == ts.b.platformKID {
		t.Fatalf("two signups share a tenant id or a platform key: %+v %+v", ts.a, ts.b)
	}
	for acc, devs := range map[*account][]string{ts.a: devicesA, ts.b: devicesB} {
		for _, d := range devs {
			acc.device(t, d)
			tok := acc.token(t, d)
			ts.tok[d] = tok
			ts.cred[d] = creds{clientID: d, username: d, password: tok.Token}
		}
	}
	for _, c := range ts.cred {
		waitAccepted(t, s.mqtt, c)
	}
	return ts
}

// as returns c with another client id (same username and token).
func (c creds) as(clientID string) creds {
	c.clientID = clientID
	return c
}

// mosquittoAuth are mosquitto_sub/mosquitto_pub arguments for c over
// protocol version v ("mqttv5", "mqttv311").
func mosquittoAuth(v string, c creds) []string {
	return []string{"-V", v, "-i", c.clientID, "-u", c.username, "-P", c.password}
}

func TestTenantJourney(t *testing.T) {
	requireMosquitto(t)
	ts := newTenants(t, []string{"a1", "a2"}, []string{"b1"})
	s, a1, a2 := ts.s, ts.cred["a1"], ts.cred["a2"]

	// mosquitto_sub as a1 receives what mosquitto_pub as a2 publishes, at
	// QoS 0 and 1, over MQTT 5 and 3.1.1; over 3.1.1 the clients use client
	// ids "<device>:<suffix>", which belong to the device too.
	for _, v := range []string{"mqttv5", "mqttv311"} {
		t.Run("mosquitto "+v, func(t *testing.T) {
			sub, pub := a1, a2
			if v == "mqttv311" {
				sub, pub = a1.as("a1:mosq"), a2.as("a2:mosq")
			}
			topic := "journey/mosquitto/" + v
			wait := mosquittoSub(t, s.server, append(mosquittoAuth(v, sub), "-q", "1", "-t", topic, "-C", "2", "-v")...)
			mosquittoPub(t, s.server, append(mosquittoAuth(v, pub), "-q", "0", "-t", topic, "-m", "at-qos-0")...)
			mosquittoPub(t, s.server, append(mosquittoAuth(v, pub), "-q", "1", "-t", topic, "-m", "at-qos-1")...)
			want := topic + " at-qos-0\n" + topic + " at-qos-1"
			if got := wait(); got != want {
				t.Fatalf("mosquitto_sub as a1 got %q, want %q", got, want)
			}
		})
	}

	t.Run("paho v5", func(t *testing.T) {
		wait := mosquittoSub(t, s.server, append(mosquittoAuth("mqttv5", a1), "-q", "1", "-t", "journey/paho/#", "-C", "2", "-v")...)
		p := connectV5(t, s.mqtt, a2)
		p.subscribe(t, 1, "journey/paho/#")
		if err := p.publish("journey/paho/from-a2", "hello from paho", 1); err != nil {
			t.Fatalf("paho v5 as a2: publish: %v", err)
		}
		p.expect(t, "journey/paho/from-a2", "hello from paho", nil)
		mosquittoPub(t, s.server, append(mosquittoAuth("mqttv5", a1.as("a1:pub")), "-q", "1", "-t", "journey/paho/from-a1", "-m", "hello from mosquitto")...)
		p.expect(t, "journey/paho/from-a1", "hello from mosquitto", nil)
		want := "journey/paho/from-a2 hello from paho\njourney/paho/from-a1 hello from mosquitto"
		if got := wait(); got != want {
			t.Fatalf("mosquitto_sub as a1 got %q, want %q", got, want)
		}
	})

	t.Run("paho v3", func(t *testing.T) {
		got := newCollector()
		sub := v3Client(t, "tcp://"+s.mqtt, "a2:v3", true, func(o *pahov3.ClientOptions) {
			o.SetUsername(a2.username)
			o.SetPassword(a2.password)
		})
		waitToken(t, sub.Subscribe("journey/v3/#", 1, got.v3))
		mosquittoPub(t, s.server, append(mosquittoAuth("mqttv311", a1.as("a1:pub")), "-q", "1", "-t", "journey/v3/x", "-m", "over 3.1.1")...)
		if r := got.next(t); r.topic != "journey/v3/x" || r.payload != "over 3.1.1" {
			t.Fatalf("paho v3 as a2 got %+v, want \"over 3.1.1\" on journey/v3/x", r)
		}
	})

	t.Run("websocket", func(t *testing.T) {
		got := newCollector()
		u := url.URL{Scheme: "ws", Host: s.ws, Path: "/mqtt"}
		sub := v3Client(t, u.String(), "a2:ws", true, func(o *pahov3.ClientOptions) {
			o.SetUsername(a2.username)
			o.SetPassword(a2.password)
		})
		waitToken(t, sub.Subscribe("journey/ws/#", 1, got.v3))
		mosquittoPub(t, s.server, append(mosquittoAuth("mqttv5", a1.as("a1:pub")), "-q", "1", "-t", "journey/ws/x", "-m", "to a websocket")...)
		if r := got.next(t); r.topic != "journey/ws/x" || r.payload != "to a websocket" {
			t.Fatalf("paho v3 over WebSocket as a2 got %+v, want \"to a websocket\" on journey/ws/x", r)
		}
	})

	t.Run("token as MQTT 5 authentication data", func(t *testing.T) {
		// The method FLOCK-JWT carries the token in the Authentication Data
		// instead of the password; an unknown method is refused with 0x8C
		// [MQTT-4.12.0-1].
		method := func(m, data string) func(*mqtt.Connect) {
			return func(cp *mqtt.Connect) { cp.Properties.AuthMethod, cp.Properties.AuthData = m, []byte(data) }
		}
		for _, tt := range []struct {
			name         string
			method, data string
			want         byte
		}{
			{"token", jwtauth.AuthMethod, a1.password, 0},
			{"garbage", jwtauth.AuthMethod, "not-a-jwt", v5BadCredentials},
			{"another tenant's token", jwtauth.AuthMethod, ts.cred["b1"].password, v5NotAuthorized},
			{"unknown method", "SCRAM-SHA-1", a1.password, byte(mqtt.BadAuthenticationMethod)},
		} {
			got, err := connackCode(t, s.mqtt, mqtt.V5, creds{clientID: "a1:auth", username: "a1"}, method(tt.method, tt.data))
			if err != nil || got != tt.want {
				t.Errorf("%s: CONNECT with method %q = 0x%02X, %v; want 0x%02X", tt.name, tt.method, got, err, tt.want)
			}
		}
	})

	t.Run("re-authentication with a fresh token", func(t *testing.T) {
		// [MQTT-4.12.1-1] a client that connected with an authentication
		// method may re-authenticate with AUTH 0x19; the server answers
		// AUTH 0x00 and the session goes on.
		nc, r, send := connectWithAuthMethod(t, s.mqtt, a1.as("a1:reauth"))
		send(&mqtt.Auth{ReasonCode: mqtt.ReAuthenticate,
			Properties: mqtt.Properties{AuthMethod: jwtauth.AuthMethod, AuthData: []byte(ts.a.token(t, "a1").Token)}})
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		p, err := r.ReadPacket()
		if ack, ok := p.(*mqtt.Auth); err != nil || !ok || ack.ReasonCode != mqtt.Success {
			t.Fatalf("re-authenticating with a fresh token: got %v, %v; want AUTH 0x00", p, err)
		}
		send(&mqtt.Pingreq{})
		if p, err := r.ReadPacket(); err != nil || p.Type() != mqtt.PINGRESP {
			t.Fatalf("after re-authenticating: got %v, %v; want PINGRESP", p, err)
		}
	})

	t.Run("tenant B has its own namespace", func(t *testing.T) {
		// The same topic in tenant B: b1 talks to itself while a1 listens on
		// the same topic in tenant A and hears nothing of it.
		wait := mosquittoSub(t, s.server, append(mosquittoAuth("mqttv5", a1), "-t", "journey/shared", "-C", "1", "-v")...)
		b1 := connectV5(t, s.mqtt, ts.cred["b1"])
		b1.subscribe(t, 1, "journey/shared")
		if err := b1.publish("journey/shared", "from B", 1); err != nil {
			t.Fatal(err)
		}
		b1.expect(t, "journey/shared", "from B", nil)
		mosquittoPub(t, s.server, append(mosquittoAuth("mqttv5", a2), "-q", "1", "-t", "journey/shared", "-m", "from A")...)
		if got := wait(); got != "journey/shared from A" {
			t.Fatalf("mosquitto_sub as a1 got %q, want only A's message", got)
		}
	})
}

// hostileTopics are topic names that look like escapes, NATS syntax, path
// tricks, system topics or the gateway's own NATS subjects (flock.<tenant>.m
// …) naming the other tenant: none may carry a message across tenants.
func hostileTopics(other string) []string {
	return []string{
		"iso/plain", "a/../b", "..", "%41", "A", "%2E", ".", "*", ">", "a/*", "a/>", "a.b",
		"$SYS/x", "$SYS/broker/clients", "/", "a//b", "a b", "héllo",
		"flock." + other + ".m.t.x", "flock/" + other + "/m/t/x", other, "../" + other + "/x",
	}
}

// hostileFilters are what a hostile subscriber subscribes to: every wildcard
// form, shared subscriptions, '$' topics, and each hostile topic literally.
func hostileFilters(other string) []string {
	return append([]string{"#", "+", "+/#", "+/+/#", "$SYS/#", "$share/g/#", "$share/g/$SYS/#"}, hostileTopics(other)...)
}

// exchange has pub publish every hostile topic with payload mark|topic and
// checks that its own tenant's sub receives all of them (each on the topic
// it was published to), while the other tenant's sub, proven live by a
// sentinel the other tenant publishes afterwards, receives none.
func exchange(t *testing.T, names []string, mark string, pub, sub *v5Session, otherMark string, otherPub, otherSub *v5Session) {
	t.Helper()
	sent := map[string]bool{}
	for _, name := range names {
		// A gateway may refuse a publication (a '$' topic): then nothing
		// was sent that could leak.
		if err := pub.publish(name, mark+"|"+name, 1); err != nil {
			t.Logf("tenant %s: publishing to %q refused: %v", mark, name, err)
			continue
		}
		sent[name] = true
	}
	if !sent["iso/plain"] || !sent["a/../b"] || !sent["*"] {
		t.Fatalf("tenant %s: ordinary publications were refused: sent %v", mark, sent)
	}
	seen := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for len(seen) < len(sent) {
		select {
		case p := <-sub.msgs:
			payload := string(p.Payload)
			name, ok := strings.CutPrefix(payload, mark+"|")
			if !ok {
				t.Fatalf("tenant %s's subscriber got %q on %q: a message of another tenant", mark, payload, p.Topic)
			}
			if name == "sentinel" && p.Topic == "iso/sentinel" {
				continue // a late copy of an earlier sentinel of this tenant
			}
			if p.Topic != name {
				t.Fatalf("tenant %s's subscriber got the message sent to %q on topic %q", mark, name, p.Topic)
			}
			seen[name] = true
		case <-timeout:
			t.Fatalf("tenant %s's subscriber received %d of %d messages: %v, sent %v", mark, len(seen), len(sent), seen, sent)
		}
	}
	// Every message above went through the one NATS server before the
	// sentinel is published, so the sentinel arriving first proves the
	// other subscriber was live and got nothing.
	sentinel := otherMark + "|sentinel"
	if err := otherPub.publish("iso/sentinel", sentinel, 1); err != nil {
		t.Fatal(err)
	}
	otherSub.expect(t, "iso/sentinel", sentinel, func(p *paho.Publish) bool {
		// The other tenant's own messages (late copies from overlapping
		// filters) are fine; one of this tenant's is a leak.
		return strings.HasPrefix(string(p.Payload), otherMark+"|")
	})
}

func TestTenantIsolation(t *testing.T) {
	ts := newTenants(t, []string{"a1", "a2"}, []string{"b1", "b2"})
	s := ts.s
	// B registers a device named a1 of its own: device ids, client ids and
	// sessions are per tenant.
	ts.b.device(t, "a1")
	bA1 := creds{"a1", "a1", ts.b.token(t, "a1").Token}
	waitAccepted(t, s.mqtt, bA1.as("a1:probe"))

	t.Run("hostile topics", func(t *testing.T) {
		aSub, aPub := connectV5(t, s.mqtt, ts.cred["a1"]), connectV5(t, s.mqtt, ts.cred["a2"])
		bSub, bPub := connectV5(t, s.mqtt, ts.cred["b1"]), connectV5(t, s.mqtt, ts.cred["b2"])
		// Each side subscribes to the other's names too.
		aSub.subscribe(t, 1, append(hostileFilters(ts.a.id), hostileTopics(ts.b.id)...)...)
		bSub.subscribe(t, 1, append(hostileFilters(ts.b.id), hostileTopics(ts.a.id)...)...)
		var waitB func() string
		if haveMosquitto() {
			// mosquitto_sub as b1 over 3.1.1 on '#' and '$SYS/#': its first
			// message must be B's sentinel.
			waitB = mosquittoSub(t, s.server, append(mosquittoAuth("mqttv311", ts.cred["b1"].as("b1:mosq")),
				"-t", "#", "-t", "$SYS/#", "-C", "1", "-v")...)
		}
		exchange(t, hostileTopics(ts.b.id), "A", aPub, aSub, "B", bPub, bSub)
		if waitB != nil {
			if got := waitB(); got != "iso/sentinel B|sentinel" {
				t.Fatalf("mosquitto_sub as b1 got %q, want only B's sentinel", got)
			}
		}
		// The other way round: A hears nothing of B.
		exchange(t, hostileTopics(ts.a.id), "B", bPub, bSub, "A", aPub, aSub)
	})

	t.Run("credentials of another tenant", func(t *testing.T) {
		a1, b1 := ts.cred["a1"], ts.cred["b1"]
		// Keys tenant A registers: an issuer key and a key of device a1.
		// Tokens they sign are good for A's devices, proven first, so the
		// refusals below are not the key cache lagging behind.
		issuer, devKey := ts.a.issuerKey(t), ts.a.deviceKey(t, "a1")
		waitAccepted(t, s.mqtt, creds{"a1", "a1", issuer.sign(t, claims("a1"))})
		waitAccepted(t, s.mqtt, creds{"a1", "a1", devKey.sign(t, claims("a1"))})
		tests := []struct {
			name string
			c    creds
		}{
			// [MQTT-3.1.4-2] the server must authenticate the client, and
			// the tenant comes from the key that verifies the token.
			{"A's token under B's device id", creds{"b1", "b1", a1.password}},
			{"A's token with client id b1", creds{"b1", "", a1.password}},
			{"A's token with client id b1:x", creds{"b1:x", "", a1.password}},
			{"A's token with username a1 and client id b1", creds{"b1", "a1", a1.password}},
			{"B's token with username a1", creds{"a1", "a1", b1.password}},
			{"B's token with client id a1", creds{"a1", "", b1.password}},
			{"A's issuer key claiming device b1", creds{"b1", "b1", issuer.sign(t, claims("b1"))}},
			{"A's issuer key claiming b1 without username", creds{"b1", "", issuer.sign(t, claims("b1"))}},
			{"A's device key claiming device b1", creds{"b1", "b1", devKey.sign(t, claims("b1"))}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for v, want := range map[mqtt.Version]byte{mqtt.V5: v5NotAuthorized, mqtt.V311: v3NotAuthorized} {
					got, err := connackCode(t, s.mqtt, v, tt.c)
					if err != nil || got != want {
						t.Errorf("CONNECT %s (user %q) over %s = 0x%02X, %v; want 0x%02X", tt.c.clientID, tt.c.username, v, got, err, want)
					}
				}
			})
		}
	})

	t.Run("control plane API across tenants", func(t *testing.T) {
		// A's API key cannot see, mint tokens for, key or revoke B's
		// device b1, whose session goes on.
		b1 := connectV5(t, s.mqtt, ts.cred["b1"].as("b1:api"))
		bKey := ts.b.deviceKey(t, "b1")
		bSigned := creds{"b1", "b1", bKey.sign(t, claims("b1"))}
		waitAccepted(t, s.mqtt, bSigned)
		ctx := apiContext(t)
		if d, err := apiv1.OK(ts.a.api.GetDeviceWithResponse(ctx, "b1")); !apiv1.IsNotFound(err) {
			t.Errorf("A: GetDevice(b1) = %+v, %v; want 404", d, err)
		}
		if tok, err := apiv1.Created(ts.a.api.IssueDeviceTokenWithResponse(ctx, "b1", apiv1.IssueTokenRequest{})); !apiv1.IsNotFound(err) {
			t.Errorf("A: IssueToken(b1) = %+v, %v; want 404", tok, err)
		}
		_, pem := newECKey(t)
		if k, err := apiv1.Created(ts.a.api.AddDeviceKeyWithResponse(ctx, "b1", apiv1.AddDeviceKeyRequest{PublicKeyPEM: pem})); !apiv1.IsNotFound(err) {
			t.Errorf("A: AddDeviceKey(b1) = %+v, %v; want 404", k, err)
		}
		if err := apiv1.NoContent(ts.a.api.DeleteDeviceKeyWithResponse(ctx, "b1", bKey.kid)); !apiv1.IsNotFound(err) {
			t.Errorf("A: DeleteDeviceKey(b1, %s) = %v; want 404", bKey.kid, err)
		}
		if err := apiv1.NoContent(ts.a.api.DeleteDeviceWithResponse(ctx, "b1")); !apiv1.IsNotFound(err) {
			t.Errorf("A: DeleteDevice(b1) = %v; want 404", err)
		}
		// Revocations name ids inside the caller's tenant: whether A's API
		// refuses these or records them in tenant A, B is not touched.
		for _, r := range []apiv1.CreateRevocationRequest{
			{Kind: "device", ID: "b1"}, {Kind: "key", ID: bKey.kid}, {Kind: "key", ID: ts.b.platformKID},
			{Kind: "token", ID: ts.tok["b1"].TokenID},
		} {
			if rev, err := apiv1.Created(ts.a.api.CreateRevocationWithResponse(ctx, r)); err == nil {
				t.Logf("A: Revoke(%s %s) = %+v: recorded in tenant A", r.Kind, r.ID, rev)
			}
		}
		b1.alive(t, "api/b1")
		waitAccepted(t, s.mqtt, ts.cred["b1"].as("b1:after"))
		waitAccepted(t, s.mqtt, bSigned.as("b1:signed"))
	})

	t.Run("re-authentication as another tenant's device", func(t *testing.T) {
		// b1 connects with the token as MQTT 5 authentication data, then
		// re-authenticates [MQTT-4.12.1-1] presenting A's token for a1: the
		// server must not switch the session to tenant A, but end it
		// [MQTT-4.12.1-2].
		nc, r, send := connectWithAuthMethod(t, s.mqtt, ts.cred["b1"].as("b1:reauth"))
		send(&mqtt.Auth{ReasonCode: mqtt.ReAuthenticate,
			Properties: mqtt.Properties{AuthMethod: jwtauth.AuthMethod, AuthData: []byte(ts.cred["a1"].password)}})
		got := readUntilClosed(t, nc, r)
		if len(got) != 1 {
			t.Fatalf("after re-authenticating with A's token the server sent %v, want one DISCONNECT", got)
		}
		if d, ok := got[0].(*mqtt.Disconnect); !ok || d.ReasonCode != mqtt.NotAuthorized {
			t.Fatalf("after re-authenticating with A's token the server sent %v, want DISCONNECT 0x87", got[0])
		}
	})

	t.Run("session takeover across tenants", func(t *testing.T) {
		a1 := connectV5(t, s.mqtt, ts.cred["a1"])
		// B's credentials under client id a1 are refused, over both versions.
		for v, want := range map[mqtt.Version]byte{mqtt.V5: v5NotAuthorized, mqtt.V311: v3NotAuthorized} {
			c := ts.cred["b1"].as("a1")
			if got, err := connackCode(t, s.mqtt, v, c); err != nil || got != want {
				t.Errorf("CONNECT a1 with b1's token over %s = 0x%02X, %v; want 0x%02X", v, got, err, want)
			}
		}
		a1.alive(t, "takeover/a1")

		// B's own device a1 connects as client id a1, in tenant B, without
		// touching A's session of the same client id ([MQTT-3.1.4-3] takes
		// over sessions of the same tenant only).
		impostor := connectV5(t, s.mqtt, bA1)
		impostor.subscribe(t, 1, "#")
		a1.alive(t, "takeover/a1")
		if err := impostor.publish("takeover/b", "B's a1", 1); err != nil {
			t.Fatal(err)
		}
		impostor.expect(t, "takeover/b", "B's a1", nil)
		a1.alive(t, "takeover/a1")
	})

	t.Run("persistent sessions", func(t *testing.T) {
		// A's a1:keep keeps a subscription while it is away, and a message
		// is queued for it.
		keep := connectV5(t, s.mqtt, ts.cred["a1"].as("a1:keep"), persistent)
		keep.subscribe(t, 1, "keep/#")
		keep.close()
		aPub := connectV5(t, s.mqtt, ts.cred["a2"].as("a2:keep"))
		if err := aPub.publish("keep/x", "A|queued", 1); err != nil {
			t.Fatal(err)
		}
		// B's a1:keep, the same client id in tenant B, finds no session
		// (Session Present 0 [MQTT-3.2.2-3]) and receives nothing of A's.
		bKeep := connectV5(t, s.mqtt, bA1.as("a1:keep"), persistent)
		if bKeep.present {
			t.Fatal("B's client a1:keep resumed a session: Session Present is 1")
		}
		noneFrom(t, "A", bKeep.alive(t, "keep/b"))
		bKeep.close()
		// A's session is intact: it resumes (Session Present 1
		// [MQTT-3.2.2-3]) with the queued message.
		again := connectV5(t, s.mqtt, ts.cred["a1"].as("a1:keep"), persistent)
		if !again.present {
			t.Fatal("A's client a1:keep did not resume its session: Session Present is 0")
		}
		again.expect(t, "keep/x", "A|queued", nil)
	})

	t.Run("retained messages", func(t *testing.T) {
		// Both tenants retain a message on the same topic; each tenant's
		// new subscriber gets its own, and B's never sees A's.
		for _, c := range []struct {
			mark string
			pub  creds
		}{{"A", ts.cred["a2"].as("a2:ret")}, {"B", ts.cred["b2"].as("b2:ret")}} {
			p := connectV5(t, s.mqtt, c.pub)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := p.c.Publish(ctx, &paho.Publish{Topic: "iso/retained", QoS: 1, Retain: true, Payload: []byte(c.mark + "|retained")})
			cancel()
			if err != nil {
				t.Fatalf("tenant %s: publish retained: %v", c.mark, err)
			}
		}
		for _, c := range []struct {
			mark, other string
			sub         creds
		}{{"A", "B", ts.cred["a1"].as("a1:ret")}, {"B", "A", ts.cred["b1"].as("b1:ret")}} {
			sub := connectV5(t, s.mqtt, c.sub)
			// [MQTT-3.3.1-6] a new subscription gets the retained messages.
			sub.subscribe(t, 1, "#", "+/retained", "iso/retained", "$share/g/#")
			sub.expect(t, "iso/retained", c.mark+"|retained", func(p *paho.Publish) bool {
				return string(p.Payload) == c.mark+"|retained"
			})
			noneFrom(t, c.other, sub.alive(t, "iso/ret-"+c.mark))
			noneFrom(t, c.other, drain(sub))
		}
	})
}

// noneFrom fails if any message carries a payload marked as tenant mark's.
func noneFrom(tb testing.TB, mark string, msgs []*paho.Publish) {
	tb.Helper()
	for _, p := range msgs {
		if strings.HasPrefix(string(p.Payload), mark+"|") {
			tb.Fatalf("got tenant %s's message %q on %q", mark, p.Payload, p.Topic)
		}
	}
}

// drain returns the messages s has received and not yet read.
func drain(s *v5Session) []*paho.Publish {
	var got []*paho.Publish
	for {
		select {
		case p := <-s.msgs:
			got = append(got, p)
		default:
			return got
		}
	}
}

func TestTenantBadTokens(t *testing.T) {
	ts := newTenants(t, []string{"a1", "a2"}, nil)
	s, a := ts.s, ts.a
	good := ts.tok["a1"]
	dk := a.deviceKey(t, "a1")
	waitAccepted(t, s.mqtt, creds{"a1", "a1", dk.sign(t, claims("a1"))})

	// alg none: a token any client can write, naming A's platform key.
	now := time.Now()
	body := map[string]any{"sub": "a1", "aud": "flockmq", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "forged"}
	algNone := unsignedToken(t, map[string]any{"alg": "none", "typ": "JWT", "kid": a.platformKID}, body, nil)
	// Algorithm confusion: HS256 keyed with the platform key's public PEM.
	hsUnsigned := unsignedToken(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": a.platformKID}, body, nil)
	hsInput := strings.TrimSuffix(hsUnsigned, ".")
	mac := hmac.New(sha256.New, []byte(a.platformPEM))
	mac.Write([]byte(hsInput))
	hs256 := hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	// a1's genuine token with its claims changed to name a2.
	parts := strings.Split(good.Token, ".")
	var tampered map[string]any
	if raw, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(raw, &tampered) != nil {
		t.Fatalf("cannot read the issued token's claims: %v", err)
	}
	tampered["sub"] = "a2"
	tc, _ := json.Marshal(tampered)
	retargeted := parts[0] + "." + base64.RawURLEncoding.EncodeToString(tc) + "." + parts[2]

	wrongAud := claims("a1")
	wrongAud.Audience = []string{"not-flockmq"}
	noAud := claims("a1")
	noAud.Audience = nil
	expired := claims("a1")
	expired.IssuedAt, expired.ExpiresAt = now.Add(-2*time.Hour), now.Add(-time.Hour)
	noExp := claims("a1")
	noExp.ExpiresAt = time.Time{}
	notYet := claims("a1")
	notYet.NotBefore = now.Add(time.Hour)
	tooLong := claims("a1")
	tooLong.ExpiresAt = tooLong.IssuedAt.Add(25 * time.Hour)
	unknown := signer{kid: "dk_unregistered", priv: dk.priv}

	tests := []struct {
		name string
		c    creds
	}{
		{"garbage password", creds{"a1", "a1", "not-a-jwt"}},
		{"username without password", creds{"a1", "a1", ""}},
		{"no credentials", creds{"a1", "", ""}},
		{"alg none", creds{"a1", "a1", algNone}},
		{"HS256 keyed with the public key", creds{"a1", "a1", hs256}},
		{"claims changed after signing", creds{"a2", "a2", retargeted}},
		{"wrong audience", creds{"a1", "a1", dk.sign(t, wrongAud)}},
		{"no audience", creds{"a1", "a1", dk.sign(t, noAud)}},
		{"expired", creds{"a1", "a1", dk.sign(t, expired)}},
		{"no expiry", creds{"a1", "a1", dk.sign(t, noExp)}},
		{"not valid yet", creds{"a1", "a1", dk.sign(t, notYet)}},
		{"device token living over 24h", creds{"a1", "a1", dk.sign(t, tooLong)}},
		{"unknown key id", creds{"a1", "a1", unknown.sign(t, claims("a1"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// [MQTT-3.1.4-2]: the CONNECT is refused with a CONNACK carrying
			// the reason, then the connection closes (connackCode checks
			// [MQTT-3.2.2-5] in 3.1.1 and [MQTT-3.2.2-7] in 5.0).
			for v, want := range map[mqtt.Version]byte{mqtt.V5: v5BadCredentials, mqtt.V311: v3BadCredentials} {
				got, err := connackCode(t, s.mqtt, v, tt.c)
				if err != nil || got != want {
					t.Errorf("CONNECT over %s = 0x%02X, %v; want 0x%02X", v, got, err, want)
				}
			}
		})
	}

	t.Run("another device of the same tenant", func(t *testing.T) {
		// A valid token never opens another device's session, not even by
		// a prefix of its id: client ids are "<device>" or "<device>:…".
		a.device(t, "a")
		short := creds{"a", "a", a.token(t, "a").Token}
		waitAccepted(t, s.mqtt, short)
		for _, c := range []creds{
			ts.cred["a2"].as("a1"), ts.cred["a2"].as("a1:x"), {"a1", "", ts.cred["a2"].password},
			short.as("a1"), short.as("a1:x"), {"a1", "a1", short.password},
		} {
			for v, want := range map[mqtt.Version]byte{mqtt.V5: v5NotAuthorized, mqtt.V311: v3NotAuthorized} {
				got, err := connackCode(t, s.mqtt, v, c)
				if err != nil || got != want {
					t.Errorf("CONNECT %s (user %q) over %s = 0x%02X, %v; want 0x%02X", c.clientID, c.username, v, got, err, want)
				}
			}
		}
		// "a:<anything>" is device a's own.
		waitAccepted(t, s.mqtt, short.as("a:a1"))
	})

	t.Run("revoked token", func(t *testing.T) {
		tok := a.token(t, "a2")
		c := creds{"a2", "a2", tok.Token}
		waitAccepted(t, s.mqtt, c)
		a.revoke(t, "token", tok.TokenID)
		waitCode(t, s.mqtt, mqtt.V5, c, v5NotAuthorized)
		waitCode(t, s.mqtt, mqtt.V311, c, v3NotAuthorized)
		// a2's other token is not revoked.
		waitAccepted(t, s.mqtt, ts.cred["a2"])
	})
}

func TestTenantDeviceSignedToken(t *testing.T) {
	ts := newTenants(t, []string{"a1"}, nil)
	s, a := ts.s, ts.a
	dk := a.deviceKey(t, "a1")
	own := creds{"a1", "a1", dk.sign(t, claims("a1"))}
	waitAccepted(t, s.mqtt, own.as("a1:probe"))

	// A device token may leave sub out: the key names the device.
	noSub := claims("a1")
	noSub.Subject = ""
	waitAccepted(t, s.mqtt, creds{"a1:nosub", "a1", dk.sign(t, noSub)})

	sess := connectV5(t, s.mqtt, own)
	sess.alive(t, "device/a1")
	pub := connectV5(t, s.mqtt, creds{"a1:pub", "a1", dk.sign(t, claims("a1"))})
	if err := pub.publish("device/a1", "signed by the device", 1); err != nil {
		t.Fatal(err)
	}
	sess.expect(t, "device/a1", "signed by the device", nil)

	// A session ends when its token expires: DISCONNECT 0x87.
	short := claims("a1")
	short.ExpiresAt = time.Now().Add(2 * time.Second)
	expiring := connectV5(t, s.mqtt, creds{"a1:short", "a1", dk.sign(t, short)})
	if code := expiring.ended(t, short.ExpiresAt); code != v5NotAuthorized {
		t.Errorf("the session of an expiring token ended with 0x%02X, want DISCONNECT 0x87", code)
	}

	// Deleting the key ends the sessions it verified and refuses it after.
	start := time.Now()
	if err := apiv1.NoContent(a.api.DeleteDeviceKeyWithResponse(apiContext(t), "a1", dk.kid)); err != nil {
		t.Fatalf("DeleteDeviceKey: %v", err)
	}
	for name, ss := range map[string]*v5Session{"a1": sess, "a1:pub": pub} {
		if code := ss.ended(t, start); code != v5AdministrativeAction && code != -1 {
			t.Errorf("session %s ended with DISCONNECT 0x%02X, want 0x98 or a closed connection", name, code)
		}
	}
	t.Logf("the sessions of the deleted key ended %s after the API call", time.Since(start).Round(100*time.Microsecond))
	waitCode(t, s.mqtt, mqtt.V5, creds{"a1", "a1", dk.sign(t, claims("a1"))}, v5BadCredentials)
	waitCode(t, s.mqtt, mqtt.V311, own, v3BadCredentials)
	// The device's platform token still works.
	waitAccepted(t, s.mqtt, ts.cred["a1"])
}

func TestTenantRevocation(t *testing.T) {
	ts := newTenants(t, []string{"a1", "a3"}, []string{"b1"})
	s, a := ts.s, ts.a
	second := a.token(t, "a1")
	waitAccepted(t, s.mqtt, creds{"a1:probe", "a1", second.Token})

	a1 := connectV5(t, s.mqtt, ts.cred["a1"])
	a1second := connectV5(t, s.mqtt, creds{"a1:second", "a1", second.Token})
	a3 := connectV5(t, s.mqtt, ts.cred["a3"])
	b1 := connectV5(t, s.mqtt, ts.cred["b1"])
	lost := make(chan error, 1)
	v3Client(t, "tcp://"+s.mqtt, "a1:v3", true, func(o *pahov3.ClientOptions) {
		o.SetUsername("a1")
		o.SetPassword(ts.cred["a1"].password)
		o.SetConnectionLostHandler(func(_ pahov3.Client, err error) { lost <- err })
	})

	t.Run("token", func(t *testing.T) {
		start := time.Now()
		a.revoke(t, "token", second.TokenID)
		// The server ends the session with DISCONNECT 0x98 Administrative
		// action, one of the DISCONNECT reason codes [MQTT-3.14.2-1].
		if code := a1second.ended(t, start); code != v5AdministrativeAction {
			t.Fatalf("a1:second ended with 0x%02X, want DISCONNECT 0x98", code)
		}
		t.Logf("the revoked token's session ended %s after the API call", time.Since(start).Round(100*time.Microsecond))
		a1.alive(t, "revocation/a1")
		waitCode(t, s.mqtt, mqtt.V5, creds{"a1:second", "a1", second.Token}, v5NotAuthorized)
		waitCode(t, s.mqtt, mqtt.V311, creds{"a1:second", "a1", second.Token}, v3NotAuthorized)
	})

	t.Run("re-authenticated session", func(t *testing.T) {
		// The session now rests on the token it re-authenticated with:
		// revoking that token ends it.
		nc, r, send := connectWithAuthMethod(t, s.mqtt, creds{"a1:reauth", "a1", a.token(t, "a1").Token})
		fresh := a.token(t, "a1")
		send(&mqtt.Auth{ReasonCode: mqtt.ReAuthenticate,
			Properties: mqtt.Properties{AuthMethod: jwtauth.AuthMethod, AuthData: []byte(fresh.Token)}})
		if p, err := r.ReadPacket(); err != nil || p.Type() != mqtt.AUTH || p.(*mqtt.Auth).ReasonCode != mqtt.Success {
			t.Fatalf("re-authenticating: got %v, %v; want AUTH 0x00", p, err)
		}
		start := time.Now()
		a.revoke(t, "token", fresh.TokenID)
		nc.SetReadDeadline(start.Add(propagation))
		p, err := r.ReadPacket()
		if d, ok := p.(*mqtt.Disconnect); err != nil || !ok || d.ReasonCode != mqtt.AdministrativeAction {
			t.Fatalf("after revoking the token the session re-authenticated with: got %v, %v; want DISCONNECT 0x98", p, err)
		}
	})

	t.Run("device", func(t *testing.T) {
		start := time.Now()
		a.revoke(t, "device", "a1")
		if code := a1.ended(t, start); code != v5AdministrativeAction {
			t.Fatalf("a1 ended with 0x%02X, want DISCONNECT 0x98", code)
		}
		// MQTT 3.1.1 has no DISCONNECT from the server: the connection
		// closes.
		select {
		case <-lost:
		case <-time.After(propagation - time.Since(start)):
			t.Fatalf("the MQTT 3.1.1 session of a1 is still up %s after the revocation", propagation)
		}
		t.Logf("the revoked device's sessions ended %s after the API call", time.Since(start).Round(100*time.Microsecond))
		// Other devices, and other tenants, are untouched.
		a3.alive(t, "revocation/a3")
		b1.alive(t, "revocation/b1")
		waitCode(t, s.mqtt, mqtt.V5, ts.cred["a1"], v5NotAuthorized)
		waitCode(t, s.mqtt, mqtt.V311, ts.cred["a1"], v3NotAuthorized)
	})

	t.Run("disabled device", func(t *testing.T) {
		// Revoking a device revokes the tokens issued so far; disabling it
		// keeps it out until it is enabled again.
		start := time.Now()
		setDisabled(t, a, "a3", true)
		if code := a3.ended(t, start); code != v5AdministrativeAction {
			t.Fatalf("a3 ended with 0x%02X, want DISCONNECT 0x98", code)
		}
		waitCode(t, s.mqtt, mqtt.V5, ts.cred["a3"], v5NotAuthorized)
		waitCode(t, s.mqtt, mqtt.V311, ts.cred["a3"], v3NotAuthorized)
		setDisabled(t, a, "a3", false)
		waitAccepted(t, s.mqtt, ts.cred["a3"])
	})

	t.Run("platform key", func(t *testing.T) {
		// Revoking the platform key rotates it: every session its tokens
		// opened ends, in tenant A only, and tokens issued afterwards carry
		// the new key.
		again := connectV5(t, s.mqtt, ts.cred["a3"])
		start := time.Now()
		a.revoke(t, "key", a.platformKID)
		if code := again.ended(t, start); code != v5AdministrativeAction {
			t.Fatalf("a3 ended with 0x%02X, want DISCONNECT 0x98", code)
		}
		b1.alive(t, "revocation/b1")
		checkFor(t, propagation, func() error {
			got, err := connackCode(t, s.mqtt, mqtt.V5, ts.cred["a3"])
			if err != nil || (got != v5BadCredentials && got != v5NotAuthorized) {
				return fmt.Errorf("CONNECT with a token of the revoked key = 0x%02X, %v; want 0x86 or 0x87", got, err)
			}
			return nil
		})
		tok, err := apiv1.Created(a.api.IssueDeviceTokenWithResponse(apiContext(t), "a3", apiv1.IssueTokenRequest{}))
		if err != nil {
			t.Fatalf("IssueToken after the rotation: %v", err)
		}
		if tok.KeyID == a.platformKID || !strings.HasPrefix(tok.KeyID, "pk_") {
			t.Fatalf("IssueToken after revoking platform key %s signs with key %s", a.platformKID, tok.KeyID)
		}
		a.platformKID = tok.KeyID
		waitAccepted(t, s.mqtt, creds{"a3", "a3", tok.Token})
	})

	t.Run("deleted device", func(t *testing.T) {
		a.device(t, "a4")
		c := creds{"a4", "a4", a.token(t, "a4").Token}
		waitAccepted(t, s.mqtt, c.as("a4:probe"))
		a4 := connectV5(t, s.mqtt, c)
		start := time.Now()
		if err := apiv1.NoContent(a.api.DeleteDeviceWithResponse(apiContext(t), "a4")); err != nil {
			t.Fatalf("DeleteDevice(a4): %v", err)
		}
		if code := a4.ended(t, start); code != v5AdministrativeAction {
			t.Fatalf("a4 ended with 0x%02X, want DISCONNECT 0x98", code)
		}
		waitCode(t, s.mqtt, mqtt.V5, c, v5NotAuthorized)
		b1.alive(t, "revocation/b1")
	})

	t.Run("disabled tenant", func(t *testing.T) {
		// The operator disables tenant A: every session of A ends, B's go on.
		a.device(t, "a5")
		c := creds{"a5", "a5", a.token(t, "a5").Token}
		waitAccepted(t, s.mqtt, c.as("a5:probe"))
		a5 := connectV5(t, s.mqtt, c)
		start := time.Now()
		if tn, err := apiv1.OK(s.admin.AdminUpdateTenantWithResponse(apiContext(t), a.id, apiv1.AdminUpdateTenantRequest{Disabled: new(true)})); err != nil || !tn.Disabled {
			t.Fatalf("AdminSetTenantDisabled(%s, true) = %+v, %v", a.id, tn, err)
		}
		if code := a5.ended(t, start); code != v5AdministrativeAction {
			t.Fatalf("a5 ended with 0x%02X, want DISCONNECT 0x98", code)
		}
		b1.alive(t, "revocation/b1")
		waitCode(t, s.mqtt, mqtt.V5, c, v5NotAuthorized)
		waitCode(t, s.mqtt, mqtt.V311, c, v3NotAuthorized)
		if _, err := apiv1.OK(s.admin.AdminUpdateTenantWithResponse(apiContext(t), a.id, apiv1.AdminUpdateTenantRequest{Disabled: new(false)})); err != nil {
			t.Fatalf("AdminSetTenantDisabled(%s, false): %v", a.id, err)
		}
		waitAccepted(t, s.mqtt, c)
	})
}

// setDisabled disables or enables a device through the API.
func setDisabled(tb testing.TB, a *account, device string, disabled bool) {
	tb.Helper()
	d, err := apiv1.OK(a.api.UpdateDeviceWithResponse(apiContext(tb), device, apiv1.UpdateDeviceRequest{Disabled: &disabled}))
	if err != nil || d.Disabled != disabled {
		tb.Fatalf("UpdateDevice(%s, disabled=%v) = %+v, %v", device, disabled, d, err)
	}
}

func TestTenantDeviceStatus(t *testing.T) {
	ts := newTenants(t, []string{"a1"}, []string{"b1"})
	s, a := ts.s, ts.a
	ctx := apiContext(t)

	// A device never seen connected.
	a.device(t, "a9")
	st, err := apiv1.OK(a.api.GetDeviceStatusWithResponse(ctx, "a9"))
	if err != nil || st.DeviceID != "a9" || st.Connected || len(st.Connections) != 0 || st.ConnectedAt != nil || st.DisconnectedAt != nil {
		t.Fatalf("DeviceStatus(a9) = %+v, %v; want never connected", st, err)
	}
	// Tenant B cannot read the status of A's devices.
	if st, err := apiv1.OK(ts.b.api.GetDeviceStatusWithResponse(ctx, "a1")); !apiv1.IsNotFound(err) {
		t.Fatalf("B: DeviceStatus(a1) = %+v, %v; want 404", st, err)
	}

	// Two connections of a1 show up, then go one by one.
	first := connectV5(t, s.mqtt, ts.cred["a1"])
	second := connectV5(t, s.mqtt, ts.cred["a1"].as("a1:second"))
	status := func(want ...string) func() error {
		return func() error {
			st, err := apiv1.OK(a.api.GetDeviceStatusWithResponse(ctx, "a1"))
			if err != nil {
				return err
			}
			var got []string
			for _, c := range st.Connections {
				if c.Protocol != 5 || c.ConnectedAt.IsZero() {
					return fmt.Errorf("connection %+v: want protocol 5 and a connection time", c)
				}
				got = append(got, c.ClientID)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) || st.Connected != (len(want) > 0) {
				return fmt.Errorf("DeviceStatus(a1) = %+v, want connections %q", st, want)
			}
			return nil
		}
	}
	checkAPI(t, propagation, status("a1", "a1:second"))
	second.close()
	checkAPI(t, propagation, status("a1"))
	start := time.Now()
	a.revoke(t, "device", "a1")
	if code := first.ended(t, start); code != v5AdministrativeAction {
		t.Fatalf("a1 ended with 0x%02X, want DISCONNECT 0x98", code)
	}
	checkAPI(t, propagation, status())
	st, err = apiv1.OK(a.api.GetDeviceStatusWithResponse(ctx, "a1"))
	if err != nil || st.ConnectedAt == nil || st.DisconnectedAt == nil || st.LastDisconnectReason == "" {
		t.Fatalf("DeviceStatus(a1) = %+v, %v; want when it connected, when and why it disconnected", st, err)
	}
	t.Logf("a1's last disconnect reason: %q", st.LastDisconnectReason)
}

func TestTenantQuotas(t *testing.T) {
	// One tenant's quota is its own: the operator caps tenant A at two
	// connections; A's third is refused while B connects as it likes.
	ts := newTenants(t, []string{"a1"}, []string{"b1"})
	s := ts.s
	if q, err := apiv1.OK(s.admin.AdminPutTenantQuotasWithResponse(apiContext(t), ts.a.id, apiv1.QuotasInput{MaxConnections: 2})); err != nil || q.Effective.MaxConnections != 2 {
		t.Fatalf("AdminPutQuotas(%s, max_connections 2) = %+v, %v", ts.a.id, q, err)
	}
	connectV5(t, s.mqtt, ts.cred["a1"].as("a1:1"))
	second := connectV5(t, s.mqtt, ts.cred["a1"].as("a1:2"))
	// CONNACK 0x97 Quota exceeded (MQTT 5), 0x03 Server unavailable (3.1.1).
	waitCode(t, s.mqtt, mqtt.V5, ts.cred["a1"].as("a1:3"), byte(mqtt.QuotaExceeded))
	waitCode(t, s.mqtt, mqtt.V311, ts.cred["a1"].as("a1:3"), 0x03)
	for i := range 3 {
		connectV5(t, s.mqtt, ts.cred["b1"].as(fmt.Sprintf("b1:%d", i)))
	}
	second.close()
	waitAccepted(t, s.mqtt, ts.cred["a1"].as("a1:3"))
}
