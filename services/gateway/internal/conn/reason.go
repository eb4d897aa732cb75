package conn

import "github.com/flockmq/flockmq/pkg/mqtt"

// CloseReason says why a connection ended. It names the log line and, for
// MQTT 5, the reason code of the server's DISCONNECT.
type CloseReason int

// Close reasons.
const (
	CloseNone                   CloseReason = iota
	CloseClientDisconnect                   // normal DISCONNECT from the client
	CloseClientDisconnectWill               // DISCONNECT 0x04: publish the will
	CloseClientError                        // client DISCONNECT with a failure code
	CloseConnectionLost                     // EOF or a read error
	CloseKeepAliveExpired                   // nothing read within 1.5× keepalive
	CloseConnectTimeout                     // no CONNECT in time
	CloseMalformedPacket                    // a packet that could not be decoded
	CloseProtocolError                      // a packet out of place
	ClosePacketTooLarge                     // above the maximum packet size
	CloseTopicAliasInvalid                  // alias 0 or above the maximum
	CloseReceiveMaximumExceeded             // more QoS 2 in flight than allowed
	CloseTakenOver                          // another connection claimed the session
	CloseServerShutdown                     // the gateway is shutting down
	CloseSlowClient                         // the client does not read what it is sent
	CloseRateTooHigh                        // the client publishes over its tenant's message or byte rate
	CloseWriteFailed                        // the socket write failed
	CloseBackendUnavailable                 // NATS or the session store failed
	CloseHandshakeRefused                   // CONNACK with a failure code was sent
	CloseAdministrative                     // revoked or kicked by an operator
	CloseTopicNameInvalid                   // PUBLISH to an invalid topic name
	CloseRetainNotSupported                 // retained PUBLISH while retain is unavailable
	CloseRevoked                            // the credentials were revoked
	CloseTokenExpired                       // the identity's token expired
	CloseReauthFailed                       // MQTT 5 re-authentication failed
)

var closeText = [...]string{
	CloseNone:                   "connection closed",
	CloseClientDisconnect:       "client sent DISCONNECT",
	CloseClientDisconnectWill:   "client disconnected asking for its will to be sent",
	CloseClientError:            "client disconnected reporting an error",
	CloseConnectionLost:         "connection lost",
	CloseKeepAliveExpired:       "keepalive expired",
	CloseConnectTimeout:         "no CONNECT received in time",
	CloseMalformedPacket:        "malformed packet",
	CloseProtocolError:          "protocol error",
	ClosePacketTooLarge:         "packet too large",
	CloseTopicAliasInvalid:      "invalid topic alias",
	CloseReceiveMaximumExceeded: "receive maximum exceeded",
	CloseTakenOver:              "session taken over by a new connection",
	CloseServerShutdown:         "server shutting down",
	CloseSlowClient:             "client too slow to read its messages",
	CloseRateTooHigh:            "publishing faster than the tenant's rate limit",
	CloseWriteFailed:            "write failed",
	CloseBackendUnavailable:     "messaging backbone or session store unavailable",
	CloseHandshakeRefused:       "connection refused",
	CloseAdministrative:         "disconnected by an operator",
	CloseTopicNameInvalid:       "invalid topic name",
	CloseRetainNotSupported:     "retained message while retain is not available",
	CloseRevoked:                "credentials revoked",
	CloseTokenExpired:           "token expired",
	CloseReauthFailed:           "re-authentication failed",
}

// String describes the reason in words.
func (r CloseReason) String() string {
	if int(r) < len(closeText) {
		return closeText[r]
	}
	return "connection closed"
}

// Code is the MQTT 5 reason code of the DISCONNECT the server sends for r;
// ok is false when the server sends none.
func (r CloseReason) Code() (code mqtt.ReasonCode, ok bool) {
	switch r {
	case CloseKeepAliveExpired:
		return mqtt.KeepAliveTimeout, true
	case CloseMalformedPacket:
		return mqtt.MalformedPacket, true
	case CloseProtocolError:
		return mqtt.ProtocolError, true
	case ClosePacketTooLarge:
		return mqtt.PacketTooLarge, true
	case CloseTopicAliasInvalid:
		return mqtt.TopicAliasInvalid, true
	case CloseReceiveMaximumExceeded:
		return mqtt.ReceiveMaximumExceeded, true
	case CloseTakenOver:
		return mqtt.SessionTakenOver, true
	case CloseServerShutdown:
		return mqtt.ServerShuttingDown, true
	case CloseSlowClient:
		return mqtt.QuotaExceeded, true
	case CloseRateTooHigh:
		return mqtt.MessageRateTooHigh, true
	case CloseBackendUnavailable:
		return mqtt.ServerUnavailable, true
	case CloseAdministrative, CloseRevoked:
		return mqtt.AdministrativeAction, true
	case CloseTokenExpired, CloseReauthFailed:
		return mqtt.NotAuthorized, true
	case CloseTopicNameInvalid:
		return mqtt.TopicNameInvalid, true
	case CloseRetainNotSupported:
		return mqtt.RetainNotSupported, true
	}
	return 0, false
}

// sendsWill reports whether the will is published when a connection ends
// for r: every end but a normal DISCONNECT [MQTT-3.1.2-8] [MQTT-3.1.2-10].
func (r CloseReason) sendsWill() bool {
	return r != CloseClientDisconnect && r != CloseHandshakeRefused && r != CloseNone
}

// reasonFor maps a protocol error code to the close reason.
func reasonFor(code mqtt.ReasonCode) CloseReason {
	switch code {
	case mqtt.MalformedPacket:
		return CloseMalformedPacket
	case mqtt.PacketTooLarge:
		return ClosePacketTooLarge
	case mqtt.TopicAliasInvalid:
		return CloseTopicAliasInvalid
	case mqtt.ReceiveMaximumExceeded:
		return CloseReceiveMaximumExceeded
	case mqtt.TopicNameInvalid:
		return CloseTopicNameInvalid
	}
	return CloseProtocolError
}
