package conn

import (
	"slices"
	"testing"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

func TestWillPropertiesRoundTrip(t *testing.T) {
	in := mqtt.Properties{
		PayloadFormat: 1, MessageExpiry: 30, MessageExpirySet: true, ContentType: "text/plain",
		ResponseTopic: "r/t", CorrelationData: []byte{1, 2}, UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}},
		WillDelay: 9, // not a message property: not encoded
	}
	b := encodeWillProps(&in)
	if b == nil {
		t.Fatal("encodeWillProps returned nil")
	}
	out, err := decodeWillProps(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.PayloadFormat != 1 || out.MessageExpiry != 30 || !out.MessageExpirySet || out.ContentType != "text/plain" ||
		out.ResponseTopic != "r/t" || !slices.Equal(out.CorrelationData, []byte{1, 2}) ||
		!slices.Equal(out.UserProperties, in.UserProperties) || out.WillDelay != 0 {
		t.Fatalf("decodeWillProps(encodeWillProps(%+v)) = %+v", in, out)
	}
	if b := encodeWillProps(&mqtt.Properties{}); b != nil {
		t.Fatalf("encodeWillProps(empty) = %v, want nil", b)
	}
}

func TestCloseReasonCodes(t *testing.T) {
	tests := []struct {
		reason   CloseReason
		code     mqtt.ReasonCode
		sends    bool // a DISCONNECT is sent (MQTT 5)
		sendWill bool
	}{
		{CloseClientDisconnect, 0, false, false},
		{CloseClientDisconnectWill, 0, false, true},
		{CloseConnectionLost, 0, false, true},
		{CloseKeepAliveExpired, mqtt.KeepAliveTimeout, true, true},
		{CloseMalformedPacket, mqtt.MalformedPacket, true, true},
		{CloseProtocolError, mqtt.ProtocolError, true, true},
		{ClosePacketTooLarge, mqtt.PacketTooLarge, true, true},
		{CloseTakenOver, mqtt.SessionTakenOver, true, true},
		{CloseServerShutdown, mqtt.ServerShuttingDown, true, true},
		{CloseSlowClient, mqtt.QuotaExceeded, true, true},
		{CloseHandshakeRefused, 0, false, false},
	}
	for _, tt := range tests {
		code, ok := tt.reason.Code()
		if ok != tt.sends || ok && code != tt.code {
			t.Errorf("%v.Code() = %v, %v; want %v, %v", tt.reason, code, ok, tt.code, tt.sends)
		}
		if got := tt.reason.sendsWill(); got != tt.sendWill {
			t.Errorf("%v.sendsWill() = %v, want %v", tt.reason, got, tt.sendWill)
		}
		if tt.reason.String() == "" {
			t.Errorf("CloseReason(%d) has no text", tt.reason)
		}
	}
	if got := reasonFor(mqtt.PacketTooLarge); got != ClosePacketTooLarge {
		t.Errorf("reasonFor(0x95) = %v", got)
	}
}
