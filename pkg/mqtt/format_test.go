package mqtt_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

func TestString(t *testing.T) {
	long := strings.Repeat("0123456789", 10)
	tests := []struct {
		name string
		p    mqtt.Packet
		want string
	}{
		{
			name: "publish",
			p:    &mqtt.Publish{QoS: 1, PacketID: 7, Topic: "sensors/t1", Payload: []byte("21.5")},
			want: `PUBLISH qos=1 retain=false dup=false id=7 topic="sensors/t1" payload=4B "21.5"`,
		},
		{
			name: "long payload is cut",
			p:    &mqtt.Publish{Topic: "t", Payload: []byte(long)},
			want: `PUBLISH qos=0 retain=false dup=false topic="t" payload=100B "01234567890123456789012345678901"…`,
		},
		{
			name: "binary payload is escaped",
			p:    &mqtt.Publish{Topic: "t", Payload: []byte{0x00, 0xFF, '\n'}},
			want: `PUBLISH qos=0 retain=false dup=false topic="t" payload=3B "\x00\xff\n"`,
		},
		{
			name: "cut at a rune boundary",
			p:    &mqtt.Publish{Topic: "t", Payload: []byte(strings.Repeat("é", 20))},
			want: `PUBLISH qos=0 retain=false dup=false topic="t" payload=40B "` + strings.Repeat("é", 16) + `"…`,
		},
		{
			name: "connect redacts the password",
			p: &mqtt.Connect{
				ProtocolName: "MQTT", Version: mqtt.V5, KeepAlive: 60, ClientID: "dev-1",
				Username: "alice", UsernameSet: true, Password: bytes.Repeat([]byte("x"), 143), PasswordSet: true,
				Will: &mqtt.Will{Topic: "w", QoS: 1, Payload: []byte("bye"), Properties: mqtt.Properties{WillDelay: 5}},
			},
			want: `CONNECT proto="MQTT" version=5.0 clean_start=false keep_alive=60s client_id="dev-1" username="alice" password=<redacted 143B> will_topic="w" will_qos=1 will_retain=false will_delay=5s will_payload=3B "bye"`,
		},
		{
			name: "connack",
			p:    &mqtt.Connack{ReasonCode: mqtt.BadUsernameOrPassword, Properties: mqtt.Properties{ReasonString: "expired token"}},
			want: `CONNACK session_present=false reason=0x86 "bad user name or password" reason_string="expired token"`,
		},
		{
			name: "auth redacts the data",
			p:    &mqtt.Auth{ReasonCode: mqtt.ReAuthenticate, Properties: mqtt.Properties{AuthMethod: "jwt", AuthData: []byte("eyJhbGciOi")}},
			want: `AUTH reason=0x19 "re-authenticate" auth_method="jwt" auth_data=<redacted 10B>`,
		},
		{
			name: "subscribe",
			p:    &mqtt.Subscribe{PacketID: 3, Subscriptions: []mqtt.Subscription{{Filter: "a/+", QoS: 1, NoLocal: true}}},
			want: `SUBSCRIBE id=3 subs=["a/+" qos=1 no_local]`,
		},
		{
			name: "disconnect",
			p:    &mqtt.Disconnect{ReasonCode: mqtt.SessionTakenOver, Properties: mqtt.Properties{UserProperties: []mqtt.UserProperty{{Key: "by", Value: "gw-2"}}}},
			want: `DISCONNECT reason=0x8E "session taken over" user="by":"gw-2"`,
		},
		{name: "pingreq", p: &mqtt.Pingreq{}, want: `PINGREQ`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.(interface{ String() string }).String(); got != tt.want {
				t.Errorf("String() =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}

// TestLogValue: the slog form carries the same fields, never a secret.
func TestLogValue(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	c := &mqtt.Connect{
		ProtocolName: "MQTT", Version: mqtt.V311, ClientID: "dev-1",
		Username: "alice", UsernameSet: true, Password: []byte("hunter2"), PasswordSet: true,
	}
	p := &mqtt.Publish{QoS: 1, PacketID: 9, Topic: "a/b", Payload: []byte("hi")}
	log.Info("packet received", "packet", c, "next", p)
	out := buf.String()
	if strings.Contains(out, "hunter2") {
		t.Fatalf("log line shows the password: %s", out)
	}
	var line struct {
		Packet map[string]any `json:"packet"`
		Next   map[string]any `json:"next"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line is not JSON: %v: %s", err, out)
	}
	checks := []struct {
		got, want any
	}{
		{line.Packet["type"], "CONNECT"},
		{line.Packet["client_id"], "dev-1"},
		{line.Packet["password"], "<redacted 7B>"},
		{line.Next["type"], "PUBLISH"},
		{line.Next["topic"], "a/b"},
		{line.Next["id"], float64(9)},
		{line.Next["payload_size"], float64(2)},
		{line.Next["payload"], `"hi"`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("log field = %v, want %v (line %s)", c.got, c.want, out)
		}
	}
}

func TestErrorText(t *testing.T) {
	_, _, err := mqtt.Decode([]byte{0x36, 5, 0x00, 0x01, 't', 0x00, 0x01}, mqtt.V311, 0)
	want := "mqtt: malformed packet (0x81): PUBLISH: QoS is 3 [MQTT-3.3.1-4]"
	if err == nil || err.Error() != want {
		t.Errorf("Decode(QoS 3) error = %v, want %s", err, want)
	}
}
