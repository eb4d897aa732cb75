package redisstore

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flockmq/flockmq/pkg/session"
)

// Hash fields of a session. Meta fields are decimal strings the scripts
// can compare; subscription and in-flight fields carry a prefix that no
// meta field has.
const (
	fieldEpoch        = "e"
	fieldOwner        = "o"
	fieldConnected    = "c" // "1" or "0"
	fieldProtocol     = "p"
	fieldExpiry       = "x" // seconds
	fieldDisconnected = "d" // unix milliseconds; "0" while connected
	fieldLastSeq      = "q"
	fieldWill         = "w"
	prefixSub         = "s:" // + filter
	prefixInflight    = "i:" // + direction byte + packet id (2 bytes, big endian)
)

// shards is the number of expiry index shards, and of hash tags sessions
// are spread over. It is part of the key layout: changing it strands
// existing sessions.
const shards = 256

// escape makes a tenant id or client id safe to join with ':' and to place
// inside a hash tag: it percent-encodes '%', ':', '{' and '}'.
func escape(s string) string {
	if !strings.ContainsAny(s, "%:{}") {
		return s
	}
	var b strings.Builder
	for i := range len(s) {
		switch c := s[i]; c {
		case '%', ':', '{', '}':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("truncated escape")
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape %q", s[i:i+3])
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// member names a session inside its shard: escaped tenant, ':', escaped
// client id. Escaping keeps the one separator unambiguous.
func member(k session.Key) string { return escape(k.Tenant) + ":" + escape(k.ClientID) }

func parseMember(m string) (session.Key, error) {
	t, c, ok := strings.Cut(m, ":")
	if !ok || strings.Contains(c, ":") {
		return session.Key{}, fmt.Errorf("malformed index member %q", m)
	}
	tenant, err := unescape(t)
	if err != nil {
		return session.Key{}, fmt.Errorf("index member %q: %w", m, err)
	}
	client, err := unescape(c)
	if err != nil {
		return session.Key{}, fmt.Errorf("index member %q: %w", m, err)
	}
	return session.Key{Tenant: tenant, ClientID: client}, nil
}

func shardOf(member string) int {
	h := fnv.New32a()
	h.Write([]byte(member))
	return int(h.Sum32() % shards)
}

func encodeSub(s session.Subscription) string {
	flags := s.QoS&3 | (s.RetainHandling&3)<<4
	if s.NoLocal {
		flags |= 1 << 2
	}
	if s.RetainAsPublished {
		flags |= 1 << 3
	}
	b := []byte{flags}
	if s.SubscriptionID != 0 {
		b = binary.AppendUvarint(b, uint64(s.SubscriptionID))
	}
	return string(b)
}

func decodeSub(filter, v string) (session.Subscription, error) {
	if len(v) == 0 {
		return session.Subscription{}, errors.New("empty subscription")
	}
	f := v[0]
	s := session.Subscription{
		Filter:            filter,
		QoS:               f & 3,
		NoLocal:           f&(1<<2) != 0,
		RetainAsPublished: f&(1<<3) != 0,
		RetainHandling:    f >> 4 & 3,
	}
	if len(v) > 1 {
		id, n := binary.Uvarint([]byte(v[1:]))
		if n <= 0 || 1+n != len(v) || id > 1<<32-1 {
			return session.Subscription{}, errors.New("bad subscription identifier")
		}
		s.SubscriptionID = uint32(id)
	}
	return s, nil
}

func inflightField(dir session.Direction, pid uint16) string {
	return prefixInflight + string([]byte{byte(dir), byte(pid >> 8), byte(pid)})
}

func encodeInflight(f session.Inflight) string {
	b := []byte{f.QoS, byte(f.State)}
	if f.Seq != 0 {
		b = binary.AppendUvarint(b, f.Seq)
	}
	return string(b)
}

func decodeInflight(field, v string) (session.Inflight, error) {
	id := field[len(prefixInflight):]
	if len(id) != 3 || len(v) < 2 {
		return session.Inflight{}, errors.New("malformed in-flight entry")
	}
	f := session.Inflight{
		Direction: session.Direction(id[0]),
		PacketID:  uint16(id[1])<<8 | uint16(id[2]),
		QoS:       v[0],
		State:     session.InflightState(v[1]),
	}
	if len(v) > 2 {
		seq, n := binary.Uvarint([]byte(v[2:]))
		if n <= 0 || 2+n != len(v) {
			return session.Inflight{}, errors.New("bad in-flight sequence")
		}
		f.Seq = seq
	}
	return f, nil
}

// willVersion leads an encoded will so the format can change later.
const willVersion = 1

// encodeWill writes a will as: version, flags (QoS in bits 0-1, retain
// bit 2, properties present bit 3), delay, then topic, payload and
// properties each as uvarint length and bytes.
func encodeWill(w *session.Will) string {
	flags := w.QoS & 3
	if w.Retain {
		flags |= 1 << 2
	}
	if w.Properties != nil {
		flags |= 1 << 3
	}
	b := make([]byte, 0, 16+len(w.Topic)+len(w.Payload)+len(w.Properties))
	b = append(b, willVersion, flags)
	b = binary.AppendUvarint(b, uint64(w.Delay))
	b = appendBytes(b, []byte(w.Topic))
	b = appendBytes(b, w.Payload)
	if w.Properties != nil {
		b = appendBytes(b, w.Properties)
	}
	return string(b)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func decodeWill(v string) (*session.Will, error) {
	b := []byte(v)
	if len(b) < 2 || b[0] != willVersion {
		return nil, errors.New("unknown will encoding")
	}
	flags := b[1]
	b = b[2:]
	delay, n := binary.Uvarint(b)
	if n <= 0 || delay > 1<<32-1 {
		return nil, errors.New("bad will delay")
	}
	b = b[n:]
	w := &session.Will{QoS: flags & 3, Retain: flags&(1<<2) != 0, Delay: uint32(delay)}
	topic, b, err := readBytes(b)
	if err != nil {
		return nil, fmt.Errorf("will topic: %w", err)
	}
	w.Topic = string(topic)
	if w.Payload, b, err = readBytes(b); err != nil {
		return nil, fmt.Errorf("will payload: %w", err)
	}
	if flags&(1<<3) != 0 {
		if w.Properties, b, err = readBytes(b); err != nil {
			return nil, fmt.Errorf("will properties: %w", err)
		}
	}
	if len(b) != 0 {
		return nil, errors.New("trailing bytes after will")
	}
	return w, nil
}

func readBytes(b []byte) (v, rest []byte, err error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return nil, nil, errors.New("truncated")
	}
	return b[n : n+int(l) : n+int(l)], b[n+int(l):], nil
}

// decodeState builds a State from a session hash; callers wrap its errors
// with the operation and key.
func decodeState(k session.Key, fields map[string]string) (*session.State, error) {
	st := &session.State{Key: k, Owner: fields[fieldOwner], Connected: fields[fieldConnected] == "1"}
	var err error
	parse := func(name string, bits int) uint64 {
		if err != nil {
			return 0
		}
		var v uint64
		if v, err = strconv.ParseUint(fields[name], 10, bits); err != nil {
			err = fmt.Errorf("field %q: %w", name, err)
		}
		return v
	}
	st.Epoch = parse(fieldEpoch, 64)
	st.ProtocolLevel = byte(parse(fieldProtocol, 8))
	st.ExpiryInterval = uint32(parse(fieldExpiry, 32))
	st.LastSeq = parse(fieldLastSeq, 64)
	if ms := parse(fieldDisconnected, 63); ms != 0 {
		st.DisconnectedAt = time.UnixMilli(int64(ms))
	}
	if err != nil {
		return nil, err
	}
	for name, v := range fields {
		switch {
		case name == fieldWill:
			st.Will, err = decodeWill(v)
		case strings.HasPrefix(name, prefixSub):
			var s session.Subscription
			s, err = decodeSub(name[len(prefixSub):], v)
			st.Subscriptions = append(st.Subscriptions, s)
		case strings.HasPrefix(name, prefixInflight):
			var f session.Inflight
			f, err = decodeInflight(name, v)
			st.Inflight = append(st.Inflight, f)
		}
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
	}
	slices.SortFunc(st.Subscriptions, func(a, b session.Subscription) int {
		return cmp.Compare(a.Filter, b.Filter)
	})
	slices.SortFunc(st.Inflight, func(a, b session.Inflight) int {
		return cmp.Or(cmp.Compare(a.Direction, b.Direction),
			cmp.Compare(a.Seq, b.Seq),
			cmp.Compare(a.PacketID, b.PacketID))
	})
	return st, nil
}
