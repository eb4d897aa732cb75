package jwtauth

import (
	"bytes"
	"encoding/base64"
	"time"
	"unicode/utf8"
)

// This file is the verifier's fast path: a decoder for the compact JWTs
// devices present on every CONNECT, which reads the header and the
// registered claims without reflection, maps or per-claim allocations.
//
// It is deliberately narrow. It takes only tokens whose JSON is plain:
// objects of distinct keys, strings without escapes, integer dates, no
// nested value outside aud. For anything else, and for any token that
// would fail a check before its signature is checked (unknown kid,
// expired, wrong audience), it answers "not mine" and the verifier parses
// the token again with golang-jwt, whose errors name the failed check. The
// only refusal of the fast path is a bad signature, with the error the
// other path gives. What it decodes, golang-jwt decodes too, to the same
// header and claims (FuzzDecodeCompact checks that against golang-jwt).

// strictB64 decodes JWT segments as golang-jwt's WithStrictDecoding does:
// unpadded base64url with the unused trailing bits zero.
var strictB64 = base64.RawURLEncoding.Strict()

// span is a range of compactToken.buf.
type span struct{ off, end int32 }

// compactToken is a decoded compact JWS, meant to live on the verifier's
// stack: the decoded segments are in buf and every field refers to them by
// offset, so that nothing in it points into itself and the compiler keeps
// it off the heap.
type compactToken struct {
	signing int // len of the signing input: header.claims, as sent

	alg, kid      span
	algSet        bool
	kidSet        bool
	sig           span
	iss, sub, jti span
	aud           [maxAud]span // a single string aud is one element
	nAud          int
	exp           int64 // seconds since the epoch; required
	nbf, iat      int64
	nbfSet        bool
	iatSet        bool
	seen          uint8 // claims read, by bit (claimBit); a repeated one is refused

	buf [1024]byte // the decoded header, claims and signature
}

// bytes returns the bytes of sp.
func (t *compactToken) bytes(sp span) []byte { return t.buf[sp.off:sp.end] }

// maxAud bounds the audiences of a token the fast path reads.
const maxAud = 8

// maxMembers bounds the members of an object the fast path reads.
const maxMembers = 16

// maxDateDigits bounds the digits of a date: 10^15 seconds is far past any
// real date and well inside the integers a float64 (golang-jwt's
// NumericDate) holds exactly.
const maxDateDigits = 15

// decodeCompact decodes token into t and reports whether the fast path
// handles it: three segments in strict base64url that decode to at most
// len(t.buf) bytes, a header object with a string alg, and a claims object
// with an integer exp, both in the plain JSON described above. It reports
// false for anything else, including tokens that are merely unusual; it
// never panics.
func decodeCompact(token []byte, t *compactToken) bool {
	i := bytes.IndexByte(token, '.')
	if i < 0 {
		return false
	}
	j := bytes.IndexByte(token[i+1:], '.')
	if j < 0 {
		return false
	}
	j += i + 1
	if bytes.IndexByte(token[j+1:], '.') >= 0 {
		return false
	}
	t.signing = j
	header, ok := t.decodeSegment(token[:i], 0)
	if !ok {
		return false
	}
	claims, ok := t.decodeSegment(token[i+1:j], header.end)
	if !ok {
		return false
	}
	if t.sig, ok = t.decodeSegment(token[j+1:], claims.end); !ok {
		return false
	}
	if !t.parseObject(header, false) || !t.algSet {
		return false
	}
	return t.parseObject(claims, true) && t.seen&claimExp != 0
}

// decodeSegment decodes one base64url segment into buf at off.
func (t *compactToken) decodeSegment(seg []byte, off int32) (span, bool) {
	n := strictB64.DecodedLen(len(seg))
	if n > len(t.buf)-int(off) {
		return span{}, false
	}
	m, err := strictB64.Decode(t.buf[off:], seg)
	if err != nil {
		return span{}, false
	}
	return span{off, off + int32(m)}, true
}

// The registered claims golang-jwt's RegisteredClaims decodes, one bit
// each in compactToken.seen.
const (
	claimIss uint8 = 1 << iota
	claimSub
	claimAud
	claimExp
	claimNbf
	claimIat
	claimJti
)

// claimBit returns the bit of the registered claim named key, or 0.
func claimBit(key []byte) uint8 {
	switch string(key) {
	case "iss":
		return claimIss
	case "sub":
		return claimSub
	case "aud":
		return claimAud
	case "exp":
		return claimExp
	case "nbf":
		return claimNbf
	case "iat":
		return claimIat
	case "jti":
		return claimJti
	}
	return 0
}

// headerMember reads a member of the JOSE header: alg must be a string,
// kid a string when present; other members may hold any scalar.
func (t *compactToken) headerMember(key []byte, v value) bool {
	switch string(key) {
	case "alg":
		if v.kind != kindString {
			return false
		}
		t.alg, t.algSet = v.str, true
	case "kid":
		if v.kind != kindString {
			return false
		}
		t.kid, t.kidSet = v.str, true
	}
	return true
}

// claimMember reads a member of the claims. encoding/json matches the
// registered claims' names without regard to case, so a member whose name
// equals one of them but for case is left to golang-jwt, and so is a
// repeated claim (encoding/json keeps the last).
func (t *compactToken) claimMember(key []byte, v value) bool {
	bit := claimBit(key)
	if bit == 0 {
		if len(key) == 3 {
			lower := [3]byte{key[0] | 0x20, key[1] | 0x20, key[2] | 0x20}
			if claimBit(lower[:]) != 0 {
				return false // the same name in another case
			}
		}
		return true
	}
	if t.seen&bit != 0 {
		return false
	}
	t.seen |= bit
	switch bit {
	case claimIss, claimSub, claimJti:
		if v.kind != kindString {
			return false
		}
		switch bit {
		case claimIss:
			t.iss = v.str
		case claimSub:
			t.sub = v.str
		default:
			t.jti = v.str
		}
	case claimAud:
		switch v.kind {
		case kindString:
			t.aud[0], t.nAud = v.str, 1
		case kindStrings: // parseValue filled t.aud
		default:
			return false
		}
	default: // exp, nbf, iat
		if v.kind != kindInt {
			return false
		}
		switch bit {
		case claimExp:
			t.exp = v.n
		case claimNbf:
			t.nbf, t.nbfSet = v.n, true
		default:
			t.iat, t.iatSet = v.n, true
		}
	}
	return true
}

// valueKind is the JSON type of a member's value.
type valueKind int

const (
	kindString  valueKind = iota // a string without escapes
	kindStrings                  // an array of such strings (aud only)
	kindInt                      // an integer of at most maxDateDigits digits
	kindOther                    // another number, true, false or null
)

// value is a member's value: str for a string, n for an integer.
type value struct {
	kind valueKind
	str  span
	n    int64
}

// parseObject parses the bytes of obj as one JSON object of plain members
// and hands each to claimMember when claims, else to headerMember. It
// reports whether obj was such an object and every member was taken. Keys
// must be distinct, printable ASCII; values are strings without escapes,
// integers, other numbers, true, false, null, or (aud of the claims only)
// arrays of strings. Whitespace is JSON's.
func (t *compactToken) parseObject(obj span, claims bool) bool {
	b := t.buf[:obj.end]
	p := skipSpace(b, int(obj.off))
	if p >= len(b) || b[p] != '{' {
		return false
	}
	p = skipSpace(b, p+1)
	if p < len(b) && b[p] == '}' {
		return skipSpace(b, p+1) == len(b)
	}
	var keys [maxMembers]span
	nkeys := 0
	for {
		ks, q, ok := parseString(b, p)
		key := b[ks.off:ks.end]
		if !ok || !printableASCII(key) || nkeys == maxMembers {
			return false
		}
		for _, k := range keys[:nkeys] {
			if bytes.Equal(b[k.off:k.end], key) {
				return false
			}
		}
		keys[nkeys] = ks
		nkeys++
		p = skipSpace(b, q)
		if p >= len(b) || b[p] != ':' {
			return false
		}
		p = skipSpace(b, p+1)
		var v value
		if v, p, ok = t.parseValue(b, p, claims && string(key) == "aud"); !ok {
			return false
		}
		if claims {
			ok = t.claimMember(key, v)
		} else {
			ok = t.headerMember(key, v)
		}
		if !ok {
			return false
		}
		p = skipSpace(b, p)
		if p >= len(b) {
			return false
		}
		switch b[p] {
		case ',':
			p = skipSpace(b, p+1)
		case '}':
			return skipSpace(b, p+1) == len(b)
		default:
			return false
		}
	}
}

// parseValue parses the value at b[p:] and returns the offset after it.
// An array of strings is read only when aud is set, into t.aud.
func (t *compactToken) parseValue(b []byte, p int, aud bool) (value, int, bool) {
	if p >= len(b) {
		return value{}, p, false
	}
	switch c := b[p]; {
	case c == '"':
		s, q, ok := parseString(b, p)
		return value{kind: kindString, str: s}, q, ok
	case c == '[' && aud:
		t.nAud = 0
		p = skipSpace(b, p+1)
		if p < len(b) && b[p] == ']' {
			return value{kind: kindStrings}, p + 1, true
		}
		for {
			s, q, ok := parseString(b, p)
			if !ok || t.nAud == maxAud {
				return value{}, p, false
			}
			t.aud[t.nAud] = s
			t.nAud++
			p = skipSpace(b, q)
			if p >= len(b) {
				return value{}, p, false
			}
			switch b[p] {
			case ',':
				p = skipSpace(b, p+1)
			case ']':
				return value{kind: kindStrings}, p + 1, true
			default:
				return value{}, p, false
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		return parseNumber(b, p)
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(b[p:], []byte(lit)) {
			return value{kind: kindOther}, p + len(lit), true
		}
	}
	return value{}, p, false
}

// parseString parses the string at b[p:], which must hold no escape, no
// control character and only valid UTF-8 (encoding/json would replace
// invalid bytes, so such strings are left to it). It returns where the
// string's bytes are in b and the offset after it.
func parseString(b []byte, p int) (span, int, bool) {
	if p >= len(b) || b[p] != '"' {
		return span{}, p, false
	}
	start := p + 1
	for q := start; q < len(b); q++ {
		switch c := b[q]; {
		case c == '"':
			return span{int32(start), int32(q)}, q + 1, utf8.Valid(b[start:q])
		case c == '\\' || c < 0x20:
			return span{}, q, false
		}
	}
	return span{}, len(b), false
}

// parseNumber parses the JSON number at b[p:]. An integer of at most
// maxDateDigits digits is kindInt with its value; any other valid number
// is kindOther.
func parseNumber(b []byte, p int) (value, int, bool) {
	q := p
	neg := b[q] == '-'
	if neg {
		q++
	}
	digits := q
	for q < len(b) && b[q] >= '0' && b[q] <= '9' {
		q++
	}
	nd := q - digits
	if nd == 0 || nd > 1 && b[digits] == '0' {
		return value{}, q, false // no digits, or a leading zero
	}
	integer := true
	if q < len(b) && b[q] == '.' {
		integer = false
		q++
		f := q
		for q < len(b) && b[q] >= '0' && b[q] <= '9' {
			q++
		}
		if q == f {
			return value{}, q, false
		}
	}
	if q < len(b) && (b[q] == 'e' || b[q] == 'E') {
		integer = false
		q++
		if q < len(b) && (b[q] == '+' || b[q] == '-') {
			q++
		}
		e := q
		for q < len(b) && b[q] >= '0' && b[q] <= '9' {
			q++
		}
		if q == e {
			return value{}, q, false
		}
	}
	if !integer || nd > maxDateDigits {
		return value{kind: kindOther}, q, true
	}
	var n int64
	for _, c := range b[digits:q] {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return value{kind: kindInt, n: n}, q, true
}

func skipSpace(b []byte, p int) int {
	for p < len(b) {
		switch b[p] {
		case ' ', '\t', '\n', '\r':
			p++
		default:
			return p
		}
	}
	return p
}

func printableASCII(s []byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// hasAudience reports whether the token's aud names want, as golang-jwt's
// audience check does: an empty aud, or one empty string, names nothing.
func (t *compactToken) hasAudience(want string) bool {
	if t.nAud == 0 || t.nAud == 1 && t.aud[0].off == t.aud[0].end {
		return false
	}
	for _, a := range t.aud[:t.nAud] {
		if string(t.bytes(a)) == want {
			return true
		}
	}
	return false
}

// date is the time of a NumericDate of n seconds, as golang-jwt builds it.
func date(n int64) time.Time { return time.Unix(n, 0) }
