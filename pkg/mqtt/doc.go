// Package mqtt is the MQTT wire codec: it encodes and decodes every control
// packet of MQTT 3.1 (protocol level 3, protocol name "MQIsdp"), 3.1.1
// (level 4) and 5.0 (level 5), with all v5 properties. It reads and writes
// bytes only: it owns no sockets, goroutines, loggers or configuration.
//
// # Reading
//
// A Reader decodes packets from a stream (give it a bufio.Reader). Its
// version is unknown until SetVersion or until it reads a CONNECT, whose
// protocol level then decides how every later packet is decoded; a packet
// other than CONNECT fails while the version is unknown [MQTT-3.1.0-1].
// Decode does the same for a packet already in memory.
//
// The maximum packet size is checked against the declared remaining length
// before anything is allocated, and a packet never gets a buffer larger than
// its declared length. Every packet decoded by a Reader owns one buffer:
// Topic, Payload, the strings and byte slices of its properties, and the
// reason codes of SUBACK and UNSUBACK alias that buffer instead of being
// copied (strings are made with unsafe.String over bytes nothing changes
// afterwards). A decoded 64-byte PUBLISH costs a single allocation, the
// packet and its buffer together. Reader.ReadPacketReuse decodes a PUBLISH
// into a caller's *Publish and a buffer the Reader keeps, with no allocation
// at all; such a packet is valid until the next call (Publish.Clone keeps a
// copy). Packets from Decode alias the caller's slice.
//
// # Errors
//
// Decoding never panics. A packet that breaks the spec gives an *Error,
// which wraps the ReasonCode the receiver should answer with:
// MalformedPacket (0x81) for bytes that cannot be parsed (bad lengths,
// ill-formed UTF-8 [MQTT-1.5.4-1], U+0000 [MQTT-1.5.4-2], a remaining length
// of five bytes [MQTT-1.5.5-1], reserved flags [MQTT-2.1.3-1], QoS 3
// [MQTT-3.3.1-4], bad CONNECT flags [MQTT-3.1.2-3] [MQTT-3.1.2-13]
// [MQTT-3.1.2-14] [MQTT-3.1.2-15] [MQTT-3.1.2-22], unknown reason codes and
// properties, trailing bytes); ProtocolError (0x82) for well-formed packets
// the protocol forbids (a repeated property, a property on the wrong packet,
// an out-of-range property value, a zero packet identifier [MQTT-2.2.1-3],
// DUP on QoS 0 [MQTT-3.3.1-2], SUBSCRIBE or UNSUBSCRIBE without a filter
// [MQTT-3.8.3-3] [MQTT-3.10.3-2]); TopicNameInvalid (0x90) for a wildcard in
// a topic name [MQTT-3.3.2-2]; TopicAliasInvalid (0x94) for a Topic Alias of
// 0; PacketTooLarge (0x95); UnsupportedProtocolVersion (0x84).
// errors.Is(err, mqtt.MalformedPacket) tests the code, errors.As with a
// *Error gives the spec rule. I/O errors are returned as they are; a stream
// that ends inside a packet gives io.ErrUnexpectedEOF.
//
// The codec checks what it can see in one packet. Rules that need session
// state or the direction of the packet (a second CONNECT, topic alias
// ranges, a Subscription Identifier sent by a client, Receive Maximum, the
// Maximum Packet Size announced by the peer), payload validation (0x99 for a
// payload that is not UTF-8 although its Payload Format Indicator says so)
// and the full topic name and filter rules belong to the caller and to
// pkg/topic; the codec only refuses wildcard characters in topic names.
//
// # CONNECT and the client's version
//
// When a CONNECT fails after its protocol level was read, ReadPacket and
// Decode return the partially decoded *Connect (ProtocolName and Version
// set) together with the error, so the server can answer with a CONNACK in
// the format the client understands: 0x84 for an unsupported level
// (Version tells which), or the reason code of the error. The Reader takes
// the level as its version as soon as the level is known to be supported.
//
// # Writing
//
// Append encodes a packet for a version and appends it to a caller's
// slice, so many packets can be batched into one reused buffer; it does not
// allocate. It validates what it writes with the same rules as the decoder
// and refuses an invalid packet with an *Error, leaving the slice as it was.
// Properties follow the presence rules of the Properties type; a byte-slice
// property (Correlation Data, Authentication Data) is written when it is not
// nil, so an empty value survives a round trip.
// Before v5, properties and v5-only fields are not written, and reason codes
// are mapped: CONNACK through ConnackReturnCode (0x84→1, 0x85→2, 0x88 and
// 0x89 and other failures→3, 0x86→4, 0x87, 0x8A and 0x8C→5), every SUBACK
// failure becomes 0x80. Decoding a 3.1.1 CONNACK maps back through
// ConnackReasonCode, so the packet types always hold v5 codes.
//
// Decoded packets are plain values: reading them from several goroutines is
// safe, and Append never modifies the packet it encodes.
//
// # Human-readable form
//
// Every packet has a String method and implements slog.LogValuer with the
// same fields, e.g.
//
//	PUBLISH qos=1 retain=false dup=false id=7 topic="sensors/t1" payload=4B "21.5"
//
// Payloads show as their size and a quoted preview of at most 32 bytes.
// The CONNECT password and the Authentication Data property are never shown,
// only their size: password=<redacted 143B>.
package mqtt
