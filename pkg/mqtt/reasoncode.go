package mqtt

import "fmt"

// ReasonCode is an MQTT 5 reason code (MQTT 5.0 section 2.4). Values of 0x80
// and above are failures. ReasonCode implements error, so a decoding or
// protocol failure can be returned as a value that already carries the code
// to put on the wire: errors.As(err, &rc) recovers it from a wrapped error.
type ReasonCode byte

// Reason codes. Where one value has several names in the spec, the names are
// aliases (GrantedQoS0 == Success == NormalDisconnection).
const (
	Success                     ReasonCode = 0x00
	NormalDisconnection         ReasonCode = 0x00
	GrantedQoS0                 ReasonCode = 0x00
	GrantedQoS1                 ReasonCode = 0x01
	GrantedQoS2                 ReasonCode = 0x02
	DisconnectWithWill          ReasonCode = 0x04
	NoMatchingSubscribers       ReasonCode = 0x10
	NoSubscriptionExisted       ReasonCode = 0x11
	ContinueAuthentication      ReasonCode = 0x18
	ReAuthenticate              ReasonCode = 0x19
	UnspecifiedError            ReasonCode = 0x80
	MalformedPacket             ReasonCode = 0x81
	ProtocolError               ReasonCode = 0x82
	ImplementationSpecificError ReasonCode = 0x83
	UnsupportedProtocolVersion  ReasonCode = 0x84
	ClientIDNotValid            ReasonCode = 0x85
	BadUsernameOrPassword       ReasonCode = 0x86
	NotAuthorized               ReasonCode = 0x87
	ServerUnavailable           ReasonCode = 0x88
	ServerBusy                  ReasonCode = 0x89
	Banned                      ReasonCode = 0x8A
	ServerShuttingDown          ReasonCode = 0x8B
	BadAuthenticationMethod     ReasonCode = 0x8C
	KeepAliveTimeout            ReasonCode = 0x8D
	SessionTakenOver            ReasonCode = 0x8E
	TopicFilterInvalid          ReasonCode = 0x8F
	TopicNameInvalid            ReasonCode = 0x90
	PacketIDInUse               ReasonCode = 0x91
	PacketIDNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded      ReasonCode = 0x93
	TopicAliasInvalid           ReasonCode = 0x94
	PacketTooLarge              ReasonCode = 0x95
	MessageRateTooHigh          ReasonCode = 0x96
	QuotaExceeded               ReasonCode = 0x97
	AdministrativeAction        ReasonCode = 0x98
	PayloadFormatInvalid        ReasonCode = 0x99
	RetainNotSupported          ReasonCode = 0x9A
	QoSNotSupported             ReasonCode = 0x9B
	UseAnotherServer            ReasonCode = 0x9C
	ServerMoved                 ReasonCode = 0x9D
	SharedSubNotSupported       ReasonCode = 0x9E
	ConnectionRateExceeded      ReasonCode = 0x9F
	MaximumConnectTime          ReasonCode = 0xA0
	SubIDsNotSupported          ReasonCode = 0xA1
	WildcardSubsNotSupported    ReasonCode = 0xA2
)

var reasonText = map[ReasonCode]string{
	Success:                     "success",
	GrantedQoS1:                 "granted QoS 1",
	GrantedQoS2:                 "granted QoS 2",
	DisconnectWithWill:          "disconnect with will message",
	NoMatchingSubscribers:       "no matching subscribers",
	NoSubscriptionExisted:       "no subscription existed",
	ContinueAuthentication:      "continue authentication",
	ReAuthenticate:              "re-authenticate",
	UnspecifiedError:            "unspecified error",
	MalformedPacket:             "malformed packet",
	ProtocolError:               "protocol error",
	ImplementationSpecificError: "implementation specific error",
	UnsupportedProtocolVersion:  "unsupported protocol version",
	ClientIDNotValid:            "client identifier not valid",
	BadUsernameOrPassword:       "bad user name or password",
	NotAuthorized:               "not authorized",
	ServerUnavailable:           "server unavailable",
	ServerBusy:                  "server busy",
	Banned:                      "banned",
	ServerShuttingDown:          "server shutting down",
	BadAuthenticationMethod:     "bad authentication method",
	KeepAliveTimeout:            "keep alive timeout",
	SessionTakenOver:            "session taken over",
	TopicFilterInvalid:          "topic filter invalid",
	TopicNameInvalid:            "topic name invalid",
	PacketIDInUse:               "packet identifier in use",
	PacketIDNotFound:            "packet identifier not found",
	ReceiveMaximumExceeded:      "receive maximum exceeded",
	TopicAliasInvalid:           "topic alias invalid",
	PacketTooLarge:              "packet too large",
	MessageRateTooHigh:          "message rate too high",
	QuotaExceeded:               "quota exceeded",
	AdministrativeAction:        "administrative action",
	PayloadFormatInvalid:        "payload format invalid",
	RetainNotSupported:          "retain not supported",
	QoSNotSupported:             "QoS not supported",
	UseAnotherServer:            "use another server",
	ServerMoved:                 "server moved",
	SharedSubNotSupported:       "shared subscriptions not supported",
	ConnectionRateExceeded:      "connection rate exceeded",
	MaximumConnectTime:          "maximum connect time",
	SubIDsNotSupported:          "subscription identifiers not supported",
	WildcardSubsNotSupported:    "wildcard subscriptions not supported",
}

// String returns the spec's name for the code in lower case, e.g.
// "malformed packet", or "reason code 0x.." for an unknown value.
func (rc ReasonCode) String() string {
	if s, ok := reasonText[rc]; ok {
		return s
	}
	return fmt.Sprintf("reason code 0x%02X", byte(rc))
}

// Error implements error: "mqtt: malformed packet (0x81)".
func (rc ReasonCode) Error() string {
	return fmt.Sprintf("mqtt: %s (0x%02X)", rc.String(), byte(rc))
}

// IsFailure reports whether rc is 0x80 or above.
func (rc ReasonCode) IsFailure() bool { return rc >= 0x80 }

// codeSet is a set of reason codes, one bit per value.
type codeSet [4]uint64

func newCodeSet(codes ...ReasonCode) codeSet {
	var s codeSet
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

func (s *codeSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

// The reason codes each v5 packet may carry (MQTT 5.0 section 2.4 and the
// packet sections).
var (
	connackCodes = newCodeSet(Success, UnspecifiedError, MalformedPacket, ProtocolError,
		ImplementationSpecificError, UnsupportedProtocolVersion, ClientIDNotValid, BadUsernameOrPassword,
		NotAuthorized, ServerUnavailable, ServerBusy, Banned, BadAuthenticationMethod, TopicNameInvalid,
		PacketTooLarge, QuotaExceeded, PayloadFormatInvalid, RetainNotSupported, QoSNotSupported,
		UseAnotherServer, ServerMoved, ConnectionRateExceeded)
	pubackCodes = newCodeSet(Success, NoMatchingSubscribers, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicNameInvalid, PacketIDInUse, QuotaExceeded, PayloadFormatInvalid) // PUBACK, PUBREC
	pubrelCodes = newCodeSet(Success, PacketIDNotFound) // PUBREL, PUBCOMP
	subackCodes = newCodeSet(GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIDInUse, QuotaExceeded,
		SharedSubNotSupported, SubIDsNotSupported, WildcardSubsNotSupported)
	unsubackCodes = newCodeSet(Success, NoSubscriptionExisted, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIDInUse)
	disconnectCodes = newCodeSet(NormalDisconnection, DisconnectWithWill, UnspecifiedError, MalformedPacket,
		ProtocolError, ImplementationSpecificError, NotAuthorized, ServerBusy, ServerShuttingDown,
		KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid, TopicNameInvalid, ReceiveMaximumExceeded,
		TopicAliasInvalid, PacketTooLarge, MessageRateTooHigh, QuotaExceeded, AdministrativeAction,
		PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer, ServerMoved,
		SharedSubNotSupported, ConnectionRateExceeded, MaximumConnectTime, SubIDsNotSupported,
		WildcardSubsNotSupported)
	authCodes = newCodeSet(Success, ContinueAuthentication, ReAuthenticate)
)

// ConnackReturnCode returns the MQTT 3.1/3.1.1 CONNACK return code for a v5
// reason code. The mapping, used by Append for CONNACK before v5:
//
//	v5 reason code                                  3.1.1 return code
//	0x00 Success                                    0 connection accepted
//	0x84 Unsupported Protocol Version               1 unacceptable protocol version
//	0x85 Client Identifier not valid                2 identifier rejected
//	0x88 Server unavailable, 0x89 Server busy,      3 server unavailable
//	     and every other failure not listed here
//	0x86 Bad User Name or Password                  4 bad user name or password
//	0x87 Not authorized, 0x8A Banned,               5 not authorized
//	     0x8C Bad authentication method
//
// ok is false for a code that is not a CONNACK reason code at all (a success
// other than 0x00).
func ConnackReturnCode(rc ReasonCode) (code byte, ok bool) {
	switch rc {
	case Success:
		return 0, true
	case UnsupportedProtocolVersion:
		return 1, true
	case ClientIDNotValid:
		return 2, true
	case BadUsernameOrPassword:
		return 4, true
	case NotAuthorized, Banned, BadAuthenticationMethod:
		return 5, true
	}
	if rc.IsFailure() {
		return 3, true
	}
	return 0, false
}

// ConnackReasonCode returns the v5 reason code for an MQTT 3.1/3.1.1
// CONNACK return code: 0→0x00, 1→0x84, 2→0x85, 3→0x88, 4→0x86, 5→0x87.
// ok is false for the reserved values 6..255.
func ConnackReasonCode(code byte) (rc ReasonCode, ok bool) {
	switch code {
	case 0:
		return Success, true
	case 1:
		return UnsupportedProtocolVersion, true
	case 2:
		return ClientIDNotValid, true
	case 3:
		return ServerUnavailable, true
	case 4:
		return BadUsernameOrPassword, true
	case 5:
		return NotAuthorized, true
	}
	return 0, false
}
