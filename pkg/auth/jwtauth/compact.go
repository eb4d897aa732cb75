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
// It is deliberately narrow. It accepts only tokens whose JSON is plain:
// objects of distinct keys, strings without escapes, integer dates, no
// nested value outside aud. Anything else (and any token the fast path
// would refuse) makes it answer "not mine", and the verifier parses the
// token again with golang-jwt, whose errors name the failed check. So the
// fast path never refuses a token; it only accepts, and only what
// golang-jwt would accept with the same claims (FuzzDecodeCompact checks
// that against golang-jwt's own decoding).

// strictB64 decodes JWT segments as golang-jwt's WithStrictDecoding does:
// unpadded base64url with the unused trailing bits zero.
var strictB64 = base64.RawURLEncoding.Strict()

// compactToken is a decoded compact JWS. Its byte slices alias the token
// or buf; it is meant to live on the verifier's stack.
type compactToken struct {
	signingInput []byte // header.claims, as sent: what the signature covers
	alg, kid     []byte
	kidSet       bool
	sig          []byte

	iss, sub, jti []byte
	aud           [][]byte // a single string aud is one element
	exp           int64    // seconds since the epoch; required
	nbf, iat      int64
	nbfSet        bool
	iatSet        bool
	seen          uint8 // claims read, by bit (claimBit); a repeated one is refused

	buf        [640]byte // backing store of the decoded segments when they fit
	audStorage [maxAud][]byte
}

// maxAud bounds the audiences of a token the fast path reads.
const maxAud = 8

// maxMembers bounds the members of an object the fast path reads.
const maxMembers = 16

// maxDateDigits bounds the digits of a date: 10^15 seconds is far past any
// real date and well inside the integers a float64 (golang-jwt's
// NumericDate) holds exactly.
const maxDateDigits = 15

// decodeCompact decodes token into t and reports whether the fast path
// handles it: three segments in strict base64url, a header object with a
// string alg, and a claims object with an integer exp, both in the plain
// JSON described above. It reports false for anything else, including
// tokens that are merely unusual; it never panics.
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
	t.signingInput = token[:j]
	free := t.buf[:0]
	var header, claims []byte
	var ok bool
	if header, free, ok = decodeSegment(token[:i], free); !ok {
		return false
	}
	if claims, free, ok = decodeSegment(token[i+1:j], free); !ok {
		return false
	}
	if t.sig, _, ok = decodeSegment(token[j+1:], free); !ok {
		return false
	}
	if !parseObject(header, t, false) || t.alg == nil {
		return false
	}
	return parseObject(claims, t, true) && t.seen&claimBit["exp"] != 0
}

// decodeSegment decodes one base64url segment into the spare capacity of
// free when it fits, else into a new slice, and returns it with what is
// left of free.
func decodeSegment(seg, free []byte) (out, rest []byte, ok bool) {
	n := strictB64.DecodedLen(len(seg))
	fits := cap(free)-len(free) >= n
	var dst []byte
	if fits {
		dst = free[len(free) : len(free)+n]
	} else {
		dst = make([]byte, n)
	}
	m, err := strictB64.Decode(dst, seg)
	if err != nil {
		return nil, free, false
	}
	if fits {
		free = free[:len(free)+m]
	}
	return dst[:m:m], free, true
}

// claimBit names the registered claims golang-jwt's RegisteredClaims
// decodes, one bit each.
var claimBit = map[string]uint8{"iss": 1, "sub": 2, "aud": 4, "exp": 8, "nbf": 16, "iat": 32, "jti": 64}

// headerMember reads a member of the JOSE header: alg must be a string,
// kid a string when present; other members may hold any scalar.
func (t *compactToken) headerMember(key []byte, v *value) bool {
	switch string(key) {
	case "alg":
		if v.kind != kindString {
			return false
		}
		t.alg = v.str
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
func (t *compactToken) claimMember(key []byte, v *value) bool {
	bit, registered := claimBit[string(key)]
	if !registered {
		for name := range claimBit {
			if bytes.EqualFold(key, []byte(name)) {
				return false
			}
		}
		return true
	}
	if t.seen&bit != 0 {
		return false
	}
	t.seen |= bit
	switch string(key) {
	case "iss", "sub", "jti":
		if v.kind != kindString {
			return false
		}
		switch key[0] {
		case 'i':
			t.iss = v.str
		case 's':
			t.sub = v.str
		default:
			t.jti = v.str
		}
	case "aud":
		switch v.kind {
		case kindString:
			t.audStorage[0] = v.str
			t.aud = t.audStorage[:1]
		case kindStrings:
			t.aud = v.strs
		default:
			return false
		}
	default: // exp, nbf, iat
		if v.kind != kindInt {
			return false
		}
		switch key[0] {
		case 'e':
			t.exp = v.n
		case 'n':
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

type value struct {
	kind valueKind
	str  []byte
	strs [][]byte
	n    int64
}

// parseObject parses b as one JSON object of plain members and hands each
// to t (claimMember when claims, else headerMember). It reports whether b
// was such an object and t took every member. Keys must be distinct,
// printable ASCII; values are strings without escapes, integers, other
// numbers, true, false, null, or (aud of the claims only) arrays of
// strings. Whitespace is JSON's.
func parseObject(b []byte, t *compactToken, claims bool) bool {
	p := skipSpace(b, 0)
	if p >= len(b) || b[p] != '{' {
		return false
	}
	p = skipSpace(b, p+1)
	if p < len(b) && b[p] == '}' {
		return skipSpace(b, p+1) == len(b)
	}
	var keys [maxMembers][]byte
	nkeys := 0
	for {
		key, q, ok := parseString(b, p)
		if !ok || !printableASCII(key) || nkeys == maxMembers {
			return false
		}
		for _, k := range keys[:nkeys] {
			if bytes.Equal(k, key) {
				return false
			}
		}
		keys[nkeys] = key
		nkeys++
		p = skipSpace(b, q)
		if p >= len(b) || b[p] != ':' {
			return false
		}
		p = skipSpace(b, p+1)
		var v value
		if p, ok = parseValue(b, p, claims && string(key) == "aud", t, &v); !ok {
			return false
		}
		if claims {
			ok = t.claimMember(key, &v)
		} else {
			ok = t.headerMember(key, &v)
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

// parseValue parses the value at b[p:] into v and returns the offset after
// it. Arrays of strings are read only when arrays is set, into
// t.audStorage.
func parseValue(b []byte, p int, arrays bool, t *compactToken, v *value) (int, bool) {
	if p >= len(b) {
		return p, false
	}
	switch c := b[p]; {
	case c == '"':
		s, q, ok := parseString(b, p)
		v.kind, v.str = kindString, s
		return q, ok
	case c == '[' && arrays:
		strs := t.audStorage[:0]
		p = skipSpace(b, p+1)
		if p < len(b) && b[p] == ']' {
			v.kind, v.strs = kindStrings, strs
			return p + 1, true
		}
		for {
			s, q, ok := parseString(b, p)
			if !ok || len(strs) == maxAud {
				return p, false
			}
			strs = append(strs, s)
			p = skipSpace(b, q)
			if p >= len(b) {
				return p, false
			}
			switch b[p] {
			case ',':
				p = skipSpace(b, p+1)
			case ']':
				v.kind, v.strs = kindStrings, strs
				return p + 1, true
			default:
				return p, false
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		return parseNumber(b, p, v)
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(b[p:], []byte(lit)) {
			v.kind = kindOther
			return p + len(lit), true
		}
	}
	return p, false
}

// parseString parses the string at b[p:], which must hold no escape, no
// control character and only valid UTF-8 (encoding/json would replace
// invalid bytes, so such strings are left to it). It returns the string's
// bytes, in b.
func parseString(b []byte, p int) ([]byte, int, bool) {
	if p >= len(b) || b[p] != '"' {
		return nil, p, false
	}
	start := p + 1
	for q := start; q < len(b); q++ {
		switch c := b[q]; {
		case c == '"':
			s := b[start:q:q]
			return s, q + 1, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, q, false
		}
	}
	return nil, len(b), false
}

// parseNumber parses the JSON number at b[p:] into v. An integer of at
// most maxDateDigits digits is kindInt with its value; any other valid
// number is kindOther.
func parseNumber(b []byte, p int, v *value) (int, bool) {
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
		return q, false // no digits, or a leading zero
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
			return q, false
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
			return q, false
		}
	}
	if !integer || nd > maxDateDigits {
		v.kind = kindOther
		return q, true
	}
	var n int64
	for _, c := range b[digits:q] {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	v.kind, v.n = kindInt, n
	return q, true
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
	if len(t.aud) == 0 || len(t.aud) == 1 && len(t.aud[0]) == 0 {
		return false
	}
	for _, a := range t.aud {
		if string(a) == want {
			return true
		}
	}
	return false
}

// date is the time of a NumericDate of n seconds, as golang-jwt builds it.
func date(n int64) time.Time { return time.Unix(n, 0) }
