package redisstore

import (
	"bytes"
	"testing"

	"github.com/flockmq/flockmq/pkg/session"
)

func TestEscapeRoundTrip(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a:b", "a%3Ab"},
		{"{x}", "%7Bx%7D"},
		{"100%", "100%25"},
		{"ü ☃", "ü ☃"},
		{"", ""},
	} {
		if got := escape(tc.in); got != tc.want {
			t.Errorf("escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got, err := unescape(tc.want); err != nil || got != tc.in {
			t.Errorf("unescape(%q) = %q, %v; want %q", tc.want, got, err, tc.in)
		}
	}
	for _, bad := range []string{"%", "%4", "%zz"} {
		if got, err := unescape(bad); err == nil {
			t.Errorf("unescape(%q) = %q, want an error", bad, got)
		}
	}
}

func TestSubscriptionEncoding(t *testing.T) {
	for _, s := range []session.Subscription{
		{Filter: "a", QoS: 0},
		{Filter: "a", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, SubscriptionID: 268435455},
		{Filter: "a", QoS: 1, RetainHandling: 1, SubscriptionID: 1},
	} {
		v := encodeSub(s)
		got, err := decodeSub(s.Filter, v)
		if err != nil || got != s {
			t.Errorf("decodeSub(encodeSub(%+v)) = %+v, %v", s, got, err)
		}
	}
	if v := encodeSub(session.Subscription{Filter: "x", QoS: 1}); len(v) != 1 {
		t.Errorf("a subscription without id encodes to %d bytes, want 1", len(v))
	}
}

func TestInflightEncoding(t *testing.T) {
	for _, f := range []session.Inflight{
		{Direction: session.Outbound, PacketID: 1, QoS: 1, State: session.AwaitPuback, Seq: 1<<64 - 1},
		{Direction: session.Inbound, PacketID: 65535, QoS: 2, State: session.AwaitPubrel},
	} {
		got, err := decodeInflight(inflightField(f.Direction, f.PacketID), encodeInflight(f))
		if err != nil || got != f {
			t.Errorf("decodeInflight(encodeInflight(%+v)) = %+v, %v", f, got, err)
		}
	}
}

func willSeeds() []*session.Will {
	return []*session.Will{
		{Topic: "t", Payload: []byte{0, 0xff}, QoS: 2, Retain: true, Delay: 1<<32 - 1, Properties: []byte{1, 2}},
		{Topic: "", Payload: nil, QoS: 0},
		{Topic: "x", Payload: []byte("p"), QoS: 1, Properties: []byte{}},
	}
}

func TestWillEncoding(t *testing.T) {
	for _, w := range willSeeds() {
		got, err := decodeWill(encodeWill(w))
		if err != nil || !sameWill(got, w) {
			t.Errorf("decodeWill(encodeWill(%+v)) = %+v, %v", w, got, err)
		}
	}
	for _, bad := range []string{"", "\x02\x00", "\x01\x00\x00\x05ab", "\x01\x00\x00\x00\x00junk"} {
		if w, err := decodeWill(bad); err == nil {
			t.Errorf("decodeWill(%q) = %+v, want an error", bad, w)
		}
	}
}

func sameWill(a, b *session.Will) bool {
	return a.Topic == b.Topic && bytes.Equal(a.Payload, b.Payload) && a.QoS == b.QoS && a.Retain == b.Retain &&
		a.Delay == b.Delay && bytes.Equal(a.Properties, b.Properties) && (a.Properties == nil) == (b.Properties == nil)
}

// FuzzDecodeWill: stored bytes never crash the decoder, and whatever it
// accepts survives another encode and decode unchanged.
func FuzzDecodeWill(f *testing.F) {
	for _, w := range willSeeds() {
		f.Add(encodeWill(w))
	}
	f.Fuzz(func(t *testing.T, v string) {
		w, err := decodeWill(v)
		if err != nil {
			return
		}
		if again, err := decodeWill(encodeWill(w)); err != nil || !sameWill(again, w) {
			t.Fatalf("re-decoding %+v = %+v, %v", w, again, err)
		}
	})
}

// FuzzMember: every key survives the trip through an index member, and
// distinct keys give distinct members.
func FuzzMember(f *testing.F) {
	f.Add("acme", "dev")
	f.Add("a:b", "c")
	f.Add("a", "b:c")
	f.Add("%7B", "{}")
	f.Fuzz(func(t *testing.T, tenant, client string) {
		k := session.Key{Tenant: tenant, ClientID: client}
		got, err := parseMember(member(k))
		if err != nil || got != k {
			t.Fatalf("parseMember(member(%q)) = %q, %v", k, got, err)
		}
	})
}
