package bridge

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// Message is an MQTT application message as it crosses NATS.
type Message struct {
	Tenant          string // from the subject or the call; not in the envelope
	Topic           string
	Payload         []byte
	QoS             byte      // as published
	Retain          bool      // retain flag as published (retain-as-published)
	Origin          string    // client id of the publisher, for no-local [MQTT-3.8.3-3]
	PublishedAt     time.Time // start of the message expiry countdown [MQTT-3.3.2-6]
	MessageExpiry   uint32    // seconds; valid when ExpirySet
	ExpirySet       bool
	PayloadFormat   byte
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
	UserProperties  []mqtt.UserProperty
	// Seq is the JetStream sequence of a durable message, set on receipt
	// and replay; 0 for QoS 0 messages.
	Seq uint64
	// Trace is the span of the publisher's context, when Publish was
	// called with one (a remote span context on receipt; use
	// trace.ContextWithRemoteSpanContext to continue the trace). It travels
	// in NATS headers (W3C trace context), not in the envelope.
	Trace trace.SpanContext
	// Borrowed reports that the message's strings and byte slices alias
	// memory valid only during the delivery call (a LocalHandler's
	// message): whoever keeps it keeps Clone().
	Borrowed bool
	// Packets caches the QoS 0 PUBLISH packets encoded for this message,
	// so that one message delivered to many clients is encoded once per
	// form (see PacketCache). It is never part of the envelope.
	Packets PacketCache
	// Publisher, when set on a QoS 0 message, is the state its publisher
	// keeps across publishes: Publish then batches the message for NATS
	// and the publisher must call Bridge.Flush (see Publisher). It is not
	// part of the envelope.
	Publisher *Publisher
	// Stall is set during a local delivery by a subscriber whose queue is
	// nearly full: closed once that queue drains, it lets the publisher
	// wait briefly instead of having its messages dropped (conn's QoS 0
	// back-pressure). It is not part of the envelope.
	Stall <-chan struct{}
	// MsgID, when set on a durable publish, is its JetStream
	// deduplication id (Nats-Msg-Id): publishing again with the same id
	// within the stream's duplicate window stores nothing new. It is not
	// in the envelope.
	MsgID string
}

// Publisher is what one publisher (a client connection) keeps across its
// QoS 0 publishes; see Message.Publisher. It remembers the NATS subject of
// its last topic, so a client that publishes to one topic again and again
// does not have the subject built and allocated each time, and it collects
// the publisher's consecutive messages to one subject into a batch that
// crosses NATS as one message (docs/adr/0007): the server then parses,
// matches and routes once for all of them. Publish delivers each message
// to this gateway's subscribers at once; the batch goes to NATS when the
// subject changes, when it is full, or when the publisher calls
// Bridge.Flush, which it must do before it waits for more input (a
// connection: when it has read every byte received so far). A publisher's
// messages are published by one goroutine at a time, so it needs no lock.
// The zero value is ready to use.
type Publisher struct {
	tenant, topic, subject string

	batch   *[]byte // pooled batch envelope; nil when nothing is pending
	pending string  // subject of the batched messages
	first   int     // offset in *batch of the first message's envelope
	n       int     // messages in the batch
}

// Pending returns the number of messages waiting for Flush.
func (p *Publisher) Pending() int { return p.n }

// PacketCache holds a message's encoded QoS 0 PUBLISH packets by form:
// protocol 5 or earlier, retain flag set or not. A message is delivered by
// one goroutine at a time, so the cache needs no lock; the cached bytes are
// shared by every client that sends them and must not be modified.
type PacketCache struct {
	b       [4][]byte
	encoded [4]bool // a client encoded the form for itself (see MarkEncoded)
}

func packetForm(v5, retain bool) int {
	i := 0
	if v5 {
		i = 2
	}
	if retain {
		i++
	}
	return i
}

// Get returns the cached packet of a form, or nil.
func (c *PacketCache) Get(v5, retain bool) []byte { return c.b[packetForm(v5, retain)] }

// Put caches the packet of a form.
func (c *PacketCache) Put(v5, retain bool, b []byte) { c.b[packetForm(v5, retain)] = b }

// MarkEncoded records that a client encoded a form straight into its own
// buffer, without caching it: a message most often has one receiver, and
// only a second one makes a cached copy worth its allocation.
func (c *PacketCache) MarkEncoded(v5, retain bool) { c.encoded[packetForm(v5, retain)] = true }

// Encoded reports whether a form was cached or encoded by a client before.
func (c *PacketCache) Encoded(v5, retain bool) bool {
	i := packetForm(v5, retain)
	return c.encoded[i] || c.b[i] != nil
}

// Clone returns a copy of m that shares no memory with it (the packet
// cache is not copied).
func (m *Message) Clone() *Message {
	c := *m
	c.Borrowed = false
	c.Packets = PacketCache{}
	c.Publisher = nil
	c.Stall = nil
	c.Topic = strings.Clone(m.Topic)
	c.Origin = strings.Clone(m.Origin)
	c.ContentType = strings.Clone(m.ContentType)
	c.ResponseTopic = strings.Clone(m.ResponseTopic)
	c.MsgID = strings.Clone(m.MsgID)
	c.Payload = bytes.Clone(m.Payload)
	c.CorrelationData = bytes.Clone(m.CorrelationData)
	if m.UserProperties != nil {
		c.UserProperties = make([]mqtt.UserProperty, len(m.UserProperties))
		for i, u := range m.UserProperties {
			c.UserProperties[i] = mqtt.UserProperty{Key: strings.Clone(u.Key), Value: strings.Clone(u.Value)}
		}
	}
	return &c
}

// Expired reports whether the message's expiry interval has elapsed at now
// [MQTT-3.3.2-5].
func (m *Message) Expired(now time.Time) bool {
	return m.ExpirySet && !m.PublishedAt.IsZero() &&
		!now.Before(m.PublishedAt.Add(time.Duration(m.MessageExpiry)*time.Second))
}

// Envelope version 1 layout (all integers big-endian or unsigned varints):
//
//	0      version (1)
//	1      flags: bits 0-1 QoS, 2 retain, 3 expiry set, 4 content type,
//	       5 response topic, 6 correlation data, 7 user properties
//	2      payload format indicator
//	3..10  PublishedAt as Unix nanoseconds (int64; 0 is the zero time)
//	[4]    message expiry interval, when flag 3
//	       varint length + topic
//	       varint length + origin
//	       [varint length + content type], when flag 4
//	       [varint length + response topic], when flag 5
//	       [varint length + correlation data], when flag 6
//	       [varint count, then count × (varint length + key, varint length
//	       + value)], when flag 7
//	rest   payload
//
// A batch envelope (version 2) carries consecutive QoS 0 messages of one
// publisher to one subject: the version byte, then for each message its
// version 1 envelope's length (varint) and the envelope.
const (
	envelopeVersion = 1
	envelopeBatch   = 2

	flagQoSMask   = 0x03
	flagRetain    = 0x04
	flagExpiry    = 0x08
	flagContent   = 0x10
	flagResponse  = 0x20
	flagCorrelate = 0x40
	flagUserProps = 0x80

	fixedHeaderLen = 11
)

// ErrMalformed reports an envelope DecodeMessage cannot read.
var ErrMalformed = errors.New("bridge: malformed message envelope")

// EncodedLen returns the exact length of m's envelope.
func EncodedLen(m *Message) int {
	n := fixedHeaderLen
	if m.ExpirySet {
		n += 4
	}
	n += strLen(len(m.Topic)) + strLen(len(m.Origin))
	if m.ContentType != "" {
		n += strLen(len(m.ContentType))
	}
	if m.ResponseTopic != "" {
		n += strLen(len(m.ResponseTopic))
	}
	if len(m.CorrelationData) > 0 {
		n += strLen(len(m.CorrelationData))
	}
	if len(m.UserProperties) > 0 {
		n += uvarintLen(uint64(len(m.UserProperties)))
		for _, p := range m.UserProperties {
			n += strLen(len(p.Key)) + strLen(len(p.Value))
		}
	}
	return n + len(m.Payload)
}

func strLen(n int) int { return uvarintLen(uint64(n)) + n }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// EncodeMessage appends m's envelope to dst and returns the extended
// slice. Tenant, Seq and Trace are not encoded. It does not allocate when dst has
// room for EncodedLen(m) more bytes.
func EncodeMessage(dst []byte, m *Message) []byte {
	flags := m.QoS & flagQoSMask
	if m.Retain {
		flags |= flagRetain
	}
	if m.ExpirySet {
		flags |= flagExpiry
	}
	if m.ContentType != "" {
		flags |= flagContent
	}
	if m.ResponseTopic != "" {
		flags |= flagResponse
	}
	if len(m.CorrelationData) > 0 {
		flags |= flagCorrelate
	}
	if len(m.UserProperties) > 0 {
		flags |= flagUserProps
	}
	var ts int64
	if !m.PublishedAt.IsZero() {
		ts = m.PublishedAt.UnixNano()
	}
	dst = append(dst, envelopeVersion, flags, m.PayloadFormat)
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	if m.ExpirySet {
		dst = binary.BigEndian.AppendUint32(dst, m.MessageExpiry)
	}
	dst = appendStr(dst, m.Topic)
	dst = appendStr(dst, m.Origin)
	if m.ContentType != "" {
		dst = appendStr(dst, m.ContentType)
	}
	if m.ResponseTopic != "" {
		dst = appendStr(dst, m.ResponseTopic)
	}
	if len(m.CorrelationData) > 0 {
		dst = binary.AppendUvarint(dst, uint64(len(m.CorrelationData)))
		dst = append(dst, m.CorrelationData...)
	}
	if len(m.UserProperties) > 0 {
		dst = binary.AppendUvarint(dst, uint64(len(m.UserProperties)))
		for _, p := range m.UserProperties {
			dst = appendStr(dst, p.Key)
			dst = appendStr(dst, p.Value)
		}
	}
	return append(dst, m.Payload...)
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// DecodeMessage decodes the envelope b into m, overwriting every field but
// Tenant, Seq and Trace. Payload and CorrelationData alias b, so b must not be
// modified while m is in use. All strings share one allocation; the user
// properties reuse m.UserProperties' capacity.
func DecodeMessage(b []byte, m *Message) error {
	if len(b) < fixedHeaderLen {
		return fmt.Errorf("%w: %d bytes is shorter than the header", ErrMalformed, len(b))
	}
	if b[0] != envelopeVersion {
		return fmt.Errorf("%w: unknown version %d", ErrMalformed, b[0])
	}
	flags := b[1]
	m.QoS = flags & flagQoSMask
	if m.QoS == 3 {
		return fmt.Errorf("%w: QoS 3", ErrMalformed)
	}
	m.Retain = flags&flagRetain != 0
	m.ExpirySet = flags&flagExpiry != 0
	m.PayloadFormat = b[2]
	if ts := int64(binary.BigEndian.Uint64(b[3:11])); ts != 0 {
		m.PublishedAt = time.Unix(0, ts)
	} else {
		m.PublishedAt = time.Time{}
	}
	i := fixedHeaderLen
	m.MessageExpiry = 0
	if m.ExpirySet {
		if len(b) < i+4 {
			return fmt.Errorf("%w: truncated expiry", ErrMalformed)
		}
		m.MessageExpiry = binary.BigEndian.Uint32(b[i:])
		i += 4
	}

	// First pass: find the field bounds and the end of the string region.
	d := decoder{b: b, i: i}
	topic := d.field()
	origin := d.field()
	var content, response, correlation span
	if flags&flagContent != 0 {
		content = d.field()
	}
	if flags&flagResponse != 0 {
		response = d.field()
	}
	if flags&flagCorrelate != 0 {
		correlation = d.field()
	}
	var nprops uint64
	propsAt := 0
	if flags&flagUserProps != 0 {
		nprops = d.uvarint()
		propsAt = d.i
		// Each property takes at least two bytes, which bounds nprops
		// before anything is allocated for it.
		if d.err == nil && nprops > uint64(len(b)-d.i)/2 {
			d.err = fmt.Errorf("%w: %d user properties do not fit", ErrMalformed, nprops)
		}
		for k := uint64(0); k < nprops && d.err == nil; k++ {
			d.field()
			d.field()
		}
	}
	if d.err != nil {
		return d.err
	}
	end := d.i

	// One string holds every string field; they slice it.
	strs := string(b[i:end])
	str := func(s span) string {
		if s.to == s.from {
			return ""
		}
		return strs[s.from-i : s.to-i]
	}
	m.Topic = str(topic)
	m.Origin = str(origin)
	m.ContentType = str(content)
	m.ResponseTopic = str(response)
	m.CorrelationData = nil
	if correlation.to > correlation.from {
		m.CorrelationData = b[correlation.from:correlation.to:correlation.to]
	}
	m.UserProperties = m.UserProperties[:0]
	if nprops > 0 {
		if uint64(cap(m.UserProperties)) < nprops {
			m.UserProperties = make([]mqtt.UserProperty, 0, nprops)
		}
		d = decoder{b: b, i: propsAt}
		for k := uint64(0); k < nprops; k++ {
			key, val := d.field(), d.field()
			m.UserProperties = append(m.UserProperties, mqtt.UserProperty{Key: str(key), Value: str(val)})
		}
	}
	m.Payload = b[end:len(b):len(b)]
	return nil
}

// span is a field's [from, to) byte range in the envelope; to == from for
// an empty or absent field.
type span struct{ from, to int }

// decoder walks the variable part of an envelope, stopping at the first
// error.
type decoder struct {
	b   []byte
	i   int
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad length at byte %d", ErrMalformed, d.i)
		return 0
	}
	d.i += n
	return v
}

func (d *decoder) field() span {
	n := d.uvarint()
	if d.err != nil {
		return span{}
	}
	if n > uint64(len(d.b)-d.i) {
		d.err = fmt.Errorf("%w: field of %d bytes at byte %d overruns the envelope", ErrMalformed, n, d.i)
		return span{}
	}
	s := span{d.i, d.i + int(n)}
	d.i = s.to
	return s
}
