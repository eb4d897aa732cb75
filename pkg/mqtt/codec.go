package mqtt

import (
	"errors"
	"fmt"
	"io"
	"unsafe"
)

// DefaultMaxPacketSize bounds a packet's total size (fixed header included)
// when no smaller limit is configured.
const DefaultMaxPacketSize = 1 << 20

// reuseLimit is the largest body ReadPacketReuse keeps for the next call;
// larger packets get a buffer of their own, so an idle connection never
// pins a large buffer.
const reuseLimit = 4 << 10

// codecPacket is implemented by every packet type of this package.
type codecPacket interface {
	Packet
	// decode reads the body in d; flags is the fixed header's low nibble.
	decode(d *dec, flags byte, v Version) error
	// encode validates the packet for v and appends it, fixed header included.
	encode(dst []byte, v Version) ([]byte, error)
}

// Compile-time guards: every packet type encodes and decodes.
var (
	_ codecPacket = (*Connect)(nil)
	_ codecPacket = (*Connack)(nil)
	_ codecPacket = (*Publish)(nil)
	_ codecPacket = (*Puback)(nil)
	_ codecPacket = (*Pubrec)(nil)
	_ codecPacket = (*Pubrel)(nil)
	_ codecPacket = (*Pubcomp)(nil)
	_ codecPacket = (*Subscribe)(nil)
	_ codecPacket = (*Suback)(nil)
	_ codecPacket = (*Unsubscribe)(nil)
	_ codecPacket = (*Unsuback)(nil)
	_ codecPacket = (*Pingreq)(nil)
	_ codecPacket = (*Pingresp)(nil)
	_ codecPacket = (*Disconnect)(nil)
	_ codecPacket = (*Auth)(nil)
)

func newPacket(t PacketType) codecPacket {
	switch t {
	case CONNECT:
		return new(Connect)
	case CONNACK:
		return new(Connack)
	case PUBLISH:
		return new(Publish)
	case PUBACK:
		return new(Puback)
	case PUBREC:
		return new(Pubrec)
	case PUBREL:
		return new(Pubrel)
	case PUBCOMP:
		return new(Pubcomp)
	case SUBSCRIBE:
		return new(Subscribe)
	case SUBACK:
		return new(Suback)
	case UNSUBSCRIBE:
		return new(Unsubscribe)
	case UNSUBACK:
		return new(Unsuback)
	case PINGREQ:
		return new(Pingreq)
	case PINGRESP:
		return new(Pingresp)
	case DISCONNECT:
		return new(Disconnect)
	case AUTH:
		return new(Auth)
	}
	return nil
}

// decodeInto decodes d into p. The static calls let the compiler keep d
// on the stack, which an interface call would move to the heap.
func decodeInto(p codecPacket, d *dec, flags byte, v Version) error {
	switch q := p.(type) {
	case *Publish:
		return q.decode(d, flags, v)
	case *Puback:
		return q.decode(d, flags, v)
	case *Pubrec:
		return q.decode(d, flags, v)
	case *Pubrel:
		return q.decode(d, flags, v)
	case *Pubcomp:
		return q.decode(d, flags, v)
	case *Connect:
		return q.decode(d, flags, v)
	case *Connack:
		return q.decode(d, flags, v)
	case *Subscribe:
		return q.decode(d, flags, v)
	case *Suback:
		return q.decode(d, flags, v)
	case *Unsubscribe:
		return q.decode(d, flags, v)
	case *Unsuback:
		return q.decode(d, flags, v)
	case *Pingreq:
		return q.decode(d, flags, v)
	case *Pingresp:
		return q.decode(d, flags, v)
	case *Disconnect:
		return q.decode(d, flags, v)
	case *Auth:
		return q.decode(d, flags, v)
	}
	return malformed(d.t, "", "unknown packet type")
}

// Reader decodes packets from a byte stream. It never allocates more for a
// packet than the declared remaining length, and refuses a declared length
// above its maximum packet size before allocating (PacketTooLarge).
// Give it a buffered reader (bufio.Reader): it reads the fixed header a
// byte at a time. A Reader is not safe for concurrent use.
type Reader struct {
	r       io.Reader
	br      io.ByteReader // r, when it is one
	max     uint32
	version Version
	one     [1]byte
	small   [3]byte // the body of a short acknowledgement, which nothing aliases
	buf     []byte  // ReadPacketReuse's buffer
}

// noAlias reports whether a packet of type t with a body of at most three
// bytes keeps no reference to it: such a body has no room for a string,
// binary data or a reason-code list.
func noAlias(t PacketType) bool {
	switch t {
	case CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT, AUTH, PINGREQ, PINGRESP:
		return true
	}
	return false
}

// NewReader returns a Reader over r that accepts packets of at most
// maxPacketSize bytes in total (0 means DefaultMaxPacketSize). Its version is
// unknown until SetVersion, or until it decodes a CONNECT, which sets it.
func NewReader(r io.Reader, maxPacketSize uint32) *Reader {
	br, _ := r.(io.ByteReader)
	return &Reader{r: r, br: br, max: maxPacketSize}
}

// SetVersion sets the protocol version used to decode packets other than CONNECT.
func (r *Reader) SetVersion(v Version) { r.version = v }

// Version reports the protocol version in use.
func (r *Reader) Version() Version { return r.version }

// SetMaxPacketSize changes the maximum packet size (0 means DefaultMaxPacketSize).
func (r *Reader) SetMaxPacketSize(n uint32) { r.max = n }

// ReadPacket reads and decodes one packet. A malformed or invalid packet
// yields an error wrapping the ReasonCode to send (MalformedPacket,
// ProtocolError, PacketTooLarge, ...); an io error is returned as is
// (io.EOF only when the stream ends between packets).
//
// Each packet gets its own buffer, which its strings and byte slices alias;
// for a PUBLISH of up to 512 bytes the packet and its buffer are a single
// allocation.
//
// A CONNECT sets the Reader's version to the packet's protocol level as soon
// as that level is read and supported, even when a later part of the packet
// is invalid. When the error comes from a CONNECT whose protocol level was
// read, ReadPacket returns the partially decoded *Connect (at least
// ProtocolName and Version set) together with the error, so the caller can
// answer with a CONNACK in the client's format; an unsupported level gives
// an error wrapping UnsupportedProtocolVersion. For every other error the
// packet is nil.
//
// Packets other than CONNECT fail with ProtocolError while the version is
// unknown [MQTT-3.1.0-1].
func (r *Reader) ReadPacket() (Packet, error) {
	return r.read(nil)
}

// ReadPacketReuse is ReadPacket with a caller-owned *Publish: when the next
// packet is a PUBLISH it is decoded into pub, in a body buffer the Reader
// keeps and reuses (for bodies up to 4 KiB), and pub is returned. pub's
// contents (Topic, Payload, properties) are valid only until the next call of
// ReadPacketReuse; use Publish.Clone to keep them. Any other packet is
// returned as from ReadPacket, with a buffer of its own, and pub is left
// alone. In the steady state a stream of small PUBLISH packets decodes
// without allocating.
func (r *Reader) ReadPacketReuse(pub *Publish) (Packet, error) {
	return r.read(pub)
}

func (r *Reader) readByte() (byte, error) {
	if r.br != nil {
		return r.br.ReadByte()
	}
	_, err := io.ReadFull(r.r, r.one[:])
	return r.one[0], err
}

func (r *Reader) readHeader() (header, error) {
	b0, err := r.readByte()
	if err != nil {
		return header{}, err
	}
	h := header{typ: PacketType(b0 >> 4), flags: b0 & 0x0F, n: 1}
	var shift uint
	for {
		if h.n == 5 {
			return h, malformed(h.typ, "MQTT-1.5.5-1", "remaining length longer than four bytes")
		}
		c, err := r.readByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return h, err
		}
		h.n++
		h.rl |= int(c&0x7F) << shift
		if c&0x80 == 0 {
			return h, nil
		}
		shift += 7
	}
}

func (r *Reader) read(reuse *Publish) (Packet, error) {
	h, err := r.readHeader()
	if err != nil {
		return nil, err
	}
	if err := checkPacket(h, r.version, r.max); err != nil {
		return nil, err
	}
	var p codecPacket
	var body []byte
	switch {
	case h.typ == PUBLISH && reuse != nil:
		uprops := reuse.Properties.UserProperties[:0]
		subIDs := reuse.Properties.SubscriptionIDs[:0]
		*reuse = Publish{}
		reuse.Properties.UserProperties = uprops
		reuse.Properties.SubscriptionIDs = subIDs
		p = reuse
		if h.rl <= reuseLimit {
			if cap(r.buf) < h.rl {
				size := 256
				for size < h.rl {
					size *= 2
				}
				r.buf = make([]byte, size)
			}
			body = r.buf[:h.rl:h.rl]
		} else {
			body = make([]byte, h.rl)
		}
	case h.typ == PUBLISH:
		p, body = allocPublish(h.rl)
	case h.rl <= len(r.small) && noAlias(h.typ):
		p = newPacket(h.typ)
		body = r.small[:h.rl]
	default:
		p = newPacket(h.typ)
		body = make([]byte, h.rl)
	}
	if _, err := io.ReadFull(r.r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	pkt, err := r.finish(p, h, body)
	if reuse != nil && h.typ == PUBLISH {
		// Keep the reused slices' capacity only when they were filled again,
		// so an absent property decodes as nil as from ReadPacket.
		if len(reuse.Properties.UserProperties) == 0 {
			reuse.Properties.UserProperties = nil
		}
		if len(reuse.Properties.SubscriptionIDs) == 0 {
			reuse.Properties.SubscriptionIDs = nil
		}
	}
	return pkt, err
}

// finish decodes body into p and applies what a CONNECT teaches the Reader.
func (r *Reader) finish(p codecPacket, h header, body []byte) (Packet, error) {
	d := dec{b: body, t: h.typ}
	err := decodeInto(p, &d, h.flags, r.version)
	if c, ok := p.(*Connect); ok {
		if c.Version.valid() && !errors.Is(err, UnsupportedProtocolVersion) {
			r.version = c.Version
		}
		if err != nil && c.Version != 0 {
			return c, err
		}
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// checkPacket validates a fixed header before the body is read: type and
// flags, the size limit, and that the version is known.
func checkPacket(h header, v Version, max uint32) error {
	if err := checkHeader(h.typ, h.flags, v); err != nil {
		return err
	}
	if max == 0 {
		max = DefaultMaxPacketSize
	}
	if total := uint64(h.n) + uint64(h.rl); total > uint64(max) {
		return newErr(PacketTooLarge, h.typ, "",
			fmt.Sprintf("packet of %d bytes is larger than the maximum of %d", total, max))
	}
	if h.typ != CONNECT && !v.valid() {
		return protocolErr(h.typ, "MQTT-3.1.0-1", "protocol version unknown: the first packet must be CONNECT")
	}
	return nil
}

// publishWith holds a Publish and its body buffer in one allocation.
type publishWith[B any] struct {
	p   Publish
	buf B
}

func allocWith[B any](n int) (*Publish, []byte) {
	x := new(publishWith[B])
	return &x.p, unsafe.Slice((*byte)(unsafe.Pointer(&x.buf)), unsafe.Sizeof(x.buf))[:n:n]
}

// allocPublish returns a new Publish and a body buffer of n bytes; small
// bodies share the Publish's allocation.
func allocPublish(n int) (*Publish, []byte) {
	switch {
	case n <= 64:
		return allocWith[[64]byte](n)
	case n <= 128:
		return allocWith[[128]byte](n)
	case n <= 256:
		return allocWith[[256]byte](n)
	case n <= 512:
		return allocWith[[512]byte](n)
	}
	return new(Publish), make([]byte, n)
}

// Append encodes p for protocol version v and appends it to dst. It fails
// (with an error wrapping a ReasonCode, and dst unchanged) when p cannot be
// encoded for v, e.g. an AUTH packet before v5, a property on a packet that
// may not carry it, or a field out of range. Before v5, properties are not
// encoded (they do not exist on the wire) and reason codes are mapped to the
// return codes of 3.1.1 where it has them.
//
// Append does not allocate for PUBLISH and the acknowledgements when dst
// has room, so a writer can batch many packets into one reused buffer.
func Append(dst []byte, p Packet, v Version) ([]byte, error) {
	if !v.valid() {
		return dst, newErr(UnsupportedProtocolVersion, 0, "", "cannot encode for protocol version "+v.String())
	}
	cp, ok := p.(codecPacket)
	if !ok {
		return dst, ErrUnknownPacket
	}
	return cp.encode(dst, v)
}

// AppendPublish is Append for a PUBLISH. Unlike Append it does not make p
// escape to the heap, so a caller may encode from a Publish on its stack
// without allocating for it.
func AppendPublish(dst []byte, p *Publish, v Version) ([]byte, error) {
	if !v.valid() {
		return dst, newErr(UnsupportedProtocolVersion, 0, "", "cannot encode for protocol version "+v.String())
	}
	return p.encode(dst, v)
}

// Decode decodes one whole packet (fixed header included) from the start of
// b and reports how many bytes it used. It returns io.ErrUnexpectedEOF when b
// holds only part of a packet. The packet aliases b (its strings and byte
// slices point into it): b must not change while the packet is in use.
// A CONNECT is decoded with its own protocol level whatever v is, and a
// CONNECT error after the level is read returns the partial *Connect as
// ReadPacket does.
func Decode(b []byte, v Version, maxPacketSize uint32) (Packet, int, error) {
	if len(b) == 0 {
		return nil, 0, io.ErrUnexpectedEOF
	}
	h := header{typ: PacketType(b[0] >> 4), flags: b[0] & 0x0F}
	rl, n, err := decodeVarint(b[1:])
	if err == errIncomplete {
		// A cut-short length is a short buffer, unless four bytes are there.
		return nil, 0, io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, 0, malformed(h.typ, "MQTT-1.5.5-1", "remaining length longer than four bytes")
	}
	h.rl, h.n = int(rl), 1+n
	if err := checkPacket(h, v, maxPacketSize); err != nil {
		return nil, 0, err
	}
	end := h.n + h.rl
	if len(b) < end {
		return nil, 0, io.ErrUnexpectedEOF
	}
	p := newPacket(h.typ)
	d := dec{b: b[h.n:end:end], t: h.typ}
	err = decodeInto(p, &d, h.flags, v)
	if err != nil {
		if c, ok := p.(*Connect); ok && c.Version != 0 {
			return c, end, err
		}
		return nil, end, err
	}
	return p, end, nil
}
