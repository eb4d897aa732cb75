package mqtt

import (
	"log/slog"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// previewLen is how many payload bytes String shows before "…".
const previewLen = 32

// fieldWriter collects a packet's fields, either as text for String
// ("PUBLISH qos=1 topic=\"a/b\"") or as slog attributes for LogValue, so
// both forms always show the same thing.
type fieldWriter struct {
	log    bool
	text   []byte
	attrs  []slog.Attr
	prefix string // prepended to keys, e.g. "will_"
}

func (w *fieldWriter) key(k string) {
	w.text = append(w.text, ' ')
	w.text = append(w.text, w.prefix...)
	w.text = append(w.text, k...)
	w.text = append(w.text, '=')
}

func (w *fieldWriter) str(k, v string) {
	if w.log {
		w.attrs = append(w.attrs, slog.String(w.prefix+k, v))
		return
	}
	w.key(k)
	w.text = strconv.AppendQuote(w.text, v)
}

func (w *fieldWriter) uint(k string, v uint64) {
	if w.log {
		w.attrs = append(w.attrs, slog.Uint64(w.prefix+k, v))
		return
	}
	w.key(k)
	w.text = strconv.AppendUint(w.text, v, 10)
}

func (w *fieldWriter) bool(k string, v bool) {
	if w.log {
		w.attrs = append(w.attrs, slog.Bool(w.prefix+k, v))
		return
	}
	w.key(k)
	w.text = strconv.AppendBool(w.text, v)
}

// raw writes a value that needs no quoting.
func (w *fieldWriter) raw(k, v string) {
	if w.log {
		w.attrs = append(w.attrs, slog.String(w.prefix+k, v))
		return
	}
	w.key(k)
	w.text = append(w.text, v...)
}

// seconds writes an interval in seconds.
func (w *fieldWriter) seconds(k string, v uint32) {
	if v == 0xFFFFFFFF {
		w.raw(k, "never")
		return
	}
	w.raw(k, strconv.FormatUint(uint64(v), 10)+"s")
}

// bytes writes the size and a short quoted preview: payload=5B "21.5".
func (w *fieldWriter) bytes(k string, b []byte) {
	if w.log {
		w.attrs = append(w.attrs, slog.Int(w.prefix+k+"_size", len(b)), slog.String(w.prefix+k, string(preview(nil, b))))
		return
	}
	w.key(k)
	w.text = strconv.AppendInt(w.text, int64(len(b)), 10)
	w.text = append(w.text, "B "...)
	w.text = preview(w.text, b)
}

// secret writes only the size of a secret: password=<redacted 143B>.
func (w *fieldWriter) secret(k string, b []byte) {
	w.raw(k, "<redacted "+strconv.Itoa(len(b))+"B>")
}

func (w *fieldWriter) reason(k string, rc ReasonCode) {
	w.raw(k, reasonField(rc))
}

// reasonField formats a reason code as 0x87 "not authorized".
func reasonField(rc ReasonCode) string {
	b := []byte("0x")
	b = append(b, "0123456789ABCDEF"[rc>>4], "0123456789ABCDEF"[rc&15], ' ')
	return string(strconv.AppendQuote(b, rc.String()))
}

// preview appends b quoted, cut after previewLen bytes (at a rune
// boundary) with "…" after the closing quote.
func preview(dst, b []byte) []byte {
	cut := len(b)
	if cut > previewLen {
		cut = previewLen
		for cut > previewLen-utf8.UTFMax && !utf8.RuneStart(b[cut]) {
			cut--
		}
	}
	dst = strconv.AppendQuote(dst, aliasString(b[:cut]))
	if cut < len(b) {
		dst = append(dst, "…"...)
	}
	return dst
}

// fields writes the properties in p that are present.
func (p *Properties) fields(w *fieldWriter) {
	m := p.present()
	for rest := m; rest != 0; rest &= rest - 1 {
		id := bits.TrailingZeros64(rest)
		k := propInfo[id].key
		switch id {
		case propPayloadFormat:
			if p.PayloadFormat == 1 {
				w.raw(k, "utf8")
			} else {
				w.uint(k, uint64(p.PayloadFormat))
			}
		case propMessageExpiry:
			w.seconds(k, p.MessageExpiry)
		case propContentType:
			w.str(k, p.ContentType)
		case propResponseTopic:
			w.str(k, p.ResponseTopic)
		case propCorrelationData:
			w.bytes(k, p.CorrelationData)
		case propSubscriptionID:
			for _, s := range p.SubscriptionIDs {
				w.uint(k, uint64(s))
			}
		case propSessionExpiry:
			w.seconds(k, p.SessionExpiry)
		case propAssignedClientID:
			w.str(k, p.AssignedClientID)
		case propServerKeepAlive:
			w.seconds(k, uint32(p.ServerKeepAlive))
		case propAuthMethod:
			w.str(k, p.AuthMethod)
		case propAuthData:
			// Authentication data may be a token or a proof: never shown.
			w.secret(k, p.AuthData)
		case propRequestProblemInfo:
			w.uint(k, uint64(p.RequestProblemInfo))
		case propWillDelay:
			w.seconds(k, p.WillDelay)
		case propRequestResponseInfo:
			w.uint(k, uint64(p.RequestResponseInfo))
		case propResponseInfo:
			w.str(k, p.ResponseInfo)
		case propServerReference:
			w.str(k, p.ServerReference)
		case propReasonString:
			w.str(k, p.ReasonString)
		case propReceiveMaximum:
			w.uint(k, uint64(p.ReceiveMaximum))
		case propTopicAliasMaximum:
			w.uint(k, uint64(p.TopicAliasMaximum))
		case propTopicAlias:
			w.uint(k, uint64(p.TopicAlias))
		case propMaximumQoS:
			w.uint(k, uint64(p.MaximumQoS))
		case propRetainAvailable:
			w.uint(k, uint64(p.RetainAvailable))
		case propUserProperty:
			for _, u := range p.UserProperties {
				if w.log {
					w.attrs = append(w.attrs, slog.String(w.prefix+"user."+u.Key, u.Value))
					continue
				}
				w.key(k)
				w.text = strconv.AppendQuote(w.text, u.Key)
				w.text = append(w.text, ':')
				w.text = strconv.AppendQuote(w.text, u.Value)
			}
		case propMaximumPacketSize:
			w.uint(k, uint64(p.MaximumPacketSize))
		case propWildcardSubAvailable:
			w.uint(k, uint64(p.WildcardSubAvailable))
		case propSubIDAvailable:
			w.uint(k, uint64(p.SubIDAvailable))
		case propSharedSubAvailable:
			w.uint(k, uint64(p.SharedSubAvailable))
		}
	}
}

// fielder is a packet that can describe its fields.
type fielder interface {
	Packet
	fields(w *fieldWriter)
}

func packetString(p fielder) string {
	w := fieldWriter{text: make([]byte, 0, 96)}
	w.text = append(w.text, p.Type().String()...)
	p.fields(&w)
	return string(w.text)
}

func packetLogValue(p fielder) slog.Value {
	w := fieldWriter{log: true, attrs: make([]slog.Attr, 0, 8)}
	w.attrs = append(w.attrs, slog.String("type", p.Type().String()))
	p.fields(&w)
	return slog.GroupValue(w.attrs...)
}

func (c *Connect) fields(w *fieldWriter) {
	w.str("proto", c.ProtocolName)
	w.raw("version", c.Version.String())
	w.bool("clean_start", c.CleanStart)
	w.seconds("keep_alive", uint32(c.KeepAlive))
	w.str("client_id", c.ClientID)
	if c.UsernameSet || c.Username != "" {
		w.str("username", c.Username)
	}
	if c.PasswordSet || c.Password != nil {
		w.secret("password", c.Password)
	}
	c.Properties.fields(w)
	if wl := c.Will; wl != nil {
		w.prefix = "will_"
		w.str("topic", wl.Topic)
		w.uint("qos", uint64(wl.QoS))
		w.bool("retain", wl.Retain)
		wl.Properties.fields(w)
		w.bytes("payload", wl.Payload)
		w.prefix = ""
	}
}

func (c *Connack) fields(w *fieldWriter) {
	w.bool("session_present", c.SessionPresent)
	w.reason("reason", c.ReasonCode)
	c.Properties.fields(w)
}

func (p *Publish) fields(w *fieldWriter) {
	w.uint("qos", uint64(p.QoS))
	w.bool("retain", p.Retain)
	w.bool("dup", p.Dup)
	if p.QoS > 0 || p.PacketID != 0 {
		w.uint("id", uint64(p.PacketID))
	}
	w.str("topic", p.Topic)
	p.Properties.fields(w)
	w.bytes("payload", p.Payload)
}

func ackFields(w *fieldWriter, id uint16, rc ReasonCode, props *Properties) {
	w.uint("id", uint64(id))
	if rc != Success {
		w.reason("reason", rc)
	}
	props.fields(w)
}

func (p *Puback) fields(w *fieldWriter)  { ackFields(w, p.PacketID, p.ReasonCode, &p.Properties) }
func (p *Pubrec) fields(w *fieldWriter)  { ackFields(w, p.PacketID, p.ReasonCode, &p.Properties) }
func (p *Pubrel) fields(w *fieldWriter)  { ackFields(w, p.PacketID, p.ReasonCode, &p.Properties) }
func (p *Pubcomp) fields(w *fieldWriter) { ackFields(w, p.PacketID, p.ReasonCode, &p.Properties) }

func (s *Subscribe) fields(w *fieldWriter) {
	w.uint("id", uint64(s.PacketID))
	s.Properties.fields(w)
	var b []byte
	for i, sub := range s.Subscriptions {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendQuote(b, sub.Filter)
		b = append(b, " qos="...)
		b = strconv.AppendUint(b, uint64(sub.QoS), 10)
		if sub.NoLocal {
			b = append(b, " no_local"...)
		}
		if sub.RetainAsPublished {
			b = append(b, " retain_as_published"...)
		}
		if sub.RetainHandling != 0 {
			b = append(b, " retain_handling="...)
			b = strconv.AppendUint(b, uint64(sub.RetainHandling), 10)
		}
	}
	w.raw("subs", "["+string(b)+"]")
}

func codesText(codes []ReasonCode) string {
	b := []byte{'['}
	for i, rc := range codes {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, reasonField(rc)...)
	}
	return string(append(b, ']'))
}

func (s *Suback) fields(w *fieldWriter) {
	w.uint("id", uint64(s.PacketID))
	s.Properties.fields(w)
	w.raw("reasons", codesText(s.ReasonCodes))
}

func (u *Unsubscribe) fields(w *fieldWriter) {
	w.uint("id", uint64(u.PacketID))
	u.Properties.fields(w)
	b := []byte{'['}
	for i, f := range u.Filters {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendQuote(b, f)
	}
	w.raw("filters", string(append(b, ']')))
}

func (u *Unsuback) fields(w *fieldWriter) {
	w.uint("id", uint64(u.PacketID))
	u.Properties.fields(w)
	if u.ReasonCodes != nil {
		w.raw("reasons", codesText(u.ReasonCodes))
	}
}

func (*Pingreq) fields(*fieldWriter)  {}
func (*Pingresp) fields(*fieldWriter) {}

func (p *Disconnect) fields(w *fieldWriter) {
	if p.ReasonCode != Success {
		w.reason("reason", p.ReasonCode)
	}
	p.Properties.fields(w)
}

func (p *Auth) fields(w *fieldWriter) {
	w.reason("reason", p.ReasonCode)
	p.Properties.fields(w)
}

// String describes the packet on one line, e.g.
// `CONNECT proto="MQTT" version=5.0 ... password=<redacted 12B>`.
// The password is never shown, only its size.
func (c *Connect) String() string { return packetString(c) }

// String describes the packet on one line, e.g.
// `CONNACK session_present=false reason=0x00 "success"`.
func (c *Connack) String() string { return packetString(c) }

// String describes the packet on one line, e.g.
// `PUBLISH qos=1 retain=false dup=false id=7 topic="sensors/t1" payload=4B "21.5"`.
// Payloads longer than 32 bytes are cut, with "…" after the quote.
func (p *Publish) String() string { return packetString(p) }

// String describes the packet on one line, e.g. `PUBACK id=7`.
func (p *Puback) String() string { return packetString(p) }

// String describes the packet on one line, e.g. `PUBREC id=7`.
func (p *Pubrec) String() string { return packetString(p) }

// String describes the packet on one line, e.g. `PUBREL id=7`.
func (p *Pubrel) String() string { return packetString(p) }

// String describes the packet on one line, e.g. `PUBCOMP id=7`.
func (p *Pubcomp) String() string { return packetString(p) }

// String describes the packet on one line, e.g. `SUBSCRIBE id=1 subs=["a/+" qos=1]`.
func (s *Subscribe) String() string { return packetString(s) }

// String describes the packet on one line, e.g. `SUBACK id=1 reasons=[0x01 "granted QoS 1"]`.
func (s *Suback) String() string { return packetString(s) }

// String describes the packet on one line, e.g. `UNSUBSCRIBE id=2 filters=["a/+"]`.
func (u *Unsubscribe) String() string { return packetString(u) }

// String describes the packet on one line, e.g. `UNSUBACK id=2`.
func (u *Unsuback) String() string { return packetString(u) }

// String returns "PINGREQ".
func (p *Pingreq) String() string { return packetString(p) }

// String returns "PINGRESP".
func (p *Pingresp) String() string { return packetString(p) }

// String describes the packet on one line, e.g. `DISCONNECT reason=0x8E "session taken over"`.
func (p *Disconnect) String() string { return packetString(p) }

// String describes the packet on one line, e.g. `AUTH reason=0x18 "continue authentication" auth_method="SCRAM-SHA-1"`.
func (p *Auth) String() string { return packetString(p) }

// LogValue implements slog.LogValuer: a group with the fields of String,
// the password redacted.
func (c *Connect) LogValue() slog.Value { return packetLogValue(c) }

// LogValue implements slog.LogValuer: a group with the fields of String.
func (c *Connack) LogValue() slog.Value { return packetLogValue(c) }

// LogValue implements slog.LogValuer: a group with the fields of String;
// the payload appears as payload_size and a short preview.
func (p *Publish) LogValue() slog.Value { return packetLogValue(p) }

// LogValue implements slog.LogValuer: a group with the fields of String.
func (p *Puback) LogValue() slog.Value { return packetLogValue(p) }

// LogValue implements slog.LogValuer: a group with the fields of String.
func (p *Pubrec) LogValue() slog.Value { return packetLogValue(p) }

// LogValue implements slog.LogValuer: a group with the fields of String.
func (p *Pubrel) LogValue() slog.Value { return packetLogValue(p) }

// LogValue implements slog.LogValuer: a group with the fields of String.
func (p *Pubcomp) LogValue() slog.Value { return packetLogValue(p) }

// LogValue implements slog.LogValuer: a group with the fields of String.
func (s *Subscribe) LogValue() slog.Value { return packetLogValue(s) }

// LogValue implements slog.LogValuer: a group with the fields of String.
func (s *Suback) LogValue() slog.Value { return packetLogValue(s) }

// LogValue implements slog.LogValuer: a group with the fields of String.
func (u *Unsubscribe) LogValue() slog.Value { return packetLogValue(u) }

// LogValue implements slog.LogValuer: a group with the fields of String.
func (u *Unsuback) LogValue() slog.Value { return packetLogValue(u) }

// LogValue implements slog.LogValuer: a group with the packet type.
func (p *Pingreq) LogValue() slog.Value { return packetLogValue(p) }

// LogValue implements slog.LogValuer: a group with the packet type.
func (p *Pingresp) LogValue() slog.Value { return packetLogValue(p) }

// LogValue implements slog.LogValuer: a group with the fields of String.
func (p *Disconnect) LogValue() slog.Value { return packetLogValue(p) }

// LogValue implements slog.LogValuer: a group with the fields of String,
// the authentication data redacted.
func (p *Auth) LogValue() slog.Value { return packetLogValue(p) }

// Compile-time guards: every packet describes itself for people and logs.
var (
	_ slog.LogValuer = (*Connect)(nil)
	_ slog.LogValuer = (*Connack)(nil)
	_ slog.LogValuer = (*Publish)(nil)
	_ slog.LogValuer = (*Puback)(nil)
	_ slog.LogValuer = (*Pubrec)(nil)
	_ slog.LogValuer = (*Pubrel)(nil)
	_ slog.LogValuer = (*Pubcomp)(nil)
	_ slog.LogValuer = (*Subscribe)(nil)
	_ slog.LogValuer = (*Suback)(nil)
	_ slog.LogValuer = (*Unsubscribe)(nil)
	_ slog.LogValuer = (*Unsuback)(nil)
	_ slog.LogValuer = (*Pingreq)(nil)
	_ slog.LogValuer = (*Pingresp)(nil)
	_ slog.LogValuer = (*Disconnect)(nil)
	_ slog.LogValuer = (*Auth)(nil)
)
