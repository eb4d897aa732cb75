package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

func init() {
	register(command{
		name:    "packet",
		summary: "decode MQTT packets from hex, a file or stdin and show them field by field",
		run: func(_ context.Context, args []string) error {
			return runPacket(args, os.Stdin, os.Stdout)
		},
	})
}

const packetUsage = `usage: flockctl packet decode [-v 3|4|5] [-x] <hex... | @file | ->

Decodes one or more concatenated MQTT packets and prints each on one line.
The input is hex (spaces, colons, commas and 0x prefixes are ignored), or
@file, or - for stdin; a file or stdin holding hex text is read as hex,
anything else as raw bytes.

The protocol version is taken from a leading CONNECT, else 3.1.1 (-v 4);
-v sets it for packets other than CONNECT.

  -v 3|4|5  protocol level: 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0)
  -x        also show the bytes of each part: fixed header, remaining
            length, variable header, properties and payload`

func runPacket(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "decode" {
		fmt.Fprintln(stdout, packetUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return fmt.Errorf("packet: expected the subcommand decode: %w", errUsage)
	}
	fs := flag.NewFlagSet("packet decode", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	level := fs.Int("v", 0, "protocol level 3, 4 or 5")
	explain := fs.Bool("x", false, "show the bytes of each part")
	// Flags may come before or after the input: parse, take one
	// positional argument, and parse the rest again.
	var inputs []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(stdout, packetUsage)
				return nil
			}
			return fmt.Errorf("packet decode: %v: %w", err, errUsage)
		}
		if fs.NArg() == 0 {
			break
		}
		inputs = append(inputs, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	v := mqtt.Version(*level)
	if *level != 0 && v != mqtt.V31 && v != mqtt.V311 && v != mqtt.V5 {
		return fmt.Errorf("packet decode: -v %d: the level must be 3, 4 or 5: %w", *level, errUsage)
	}
	if len(inputs) == 0 {
		return fmt.Errorf("packet decode: no input (give hex, @file or -): %w", errUsage)
	}
	data, err := readPacketInput(inputs, stdin)
	if err != nil {
		return fmt.Errorf("packet decode: %w", err)
	}
	return decodePackets(stdout, data, v, *explain)
}

// readPacketInput returns the bytes named by the arguments.
func readPacketInput(args []string, stdin io.Reader) ([]byte, error) {
	if len(args) == 1 && (args[0] == "-" || strings.HasPrefix(args[0], "@")) {
		var raw []byte
		var err error
		if args[0] == "-" {
			raw, err = io.ReadAll(stdin)
		} else {
			raw, err = os.ReadFile(args[0][1:])
		}
		if err != nil {
			return nil, err
		}
		if b, err := parseHex(string(raw)); err == nil && len(b) > 0 {
			return b, nil
		}
		return raw, nil
	}
	b, err := parseHex(strings.Join(args, " "))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errUsage)
	}
	return b, nil
}

// parseHex reads hex digits, ignoring white space, colons, commas and 0x
// prefixes: "30 05", "30:05", "0x30,0x05" and "3005" are the same bytes.
func parseHex(s string) ([]byte, error) {
	s = strings.NewReplacer("0x", " ", "0X", " ").Replace(s)
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r', ':', ',':
			return -1
		}
		return r
	}, s)
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("hex input has an odd number of digits (%d)", len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("input is not hex: %v", err)
	}
	return b, nil
}

// decodePackets prints every packet in data, one per line.
func decodePackets(w io.Writer, data []byte, v mqtt.Version, explain bool) error {
	fixed := v != 0
	if !fixed {
		v = mqtt.V311
		if len(data) > 0 && mqtt.PacketType(data[0]>>4) == mqtt.CONNECT {
			v = 0 // the CONNECT decides
		}
	}
	for off := 0; off < len(data); {
		p, n, err := mqtt.Decode(data[off:], v, math.MaxUint32) // offline: any size the wire allows
		if c, ok := p.(*mqtt.Connect); ok && c.Version != 0 && !fixed {
			v = c.Version
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("packet decode: at byte %d: input ends inside a packet (%d bytes left)", off, len(data)-off)
			}
			return fmt.Errorf("packet decode: at byte %d: %w", off, err)
		}
		fmt.Fprintln(w, p)
		if explain {
			explainPacket(w, data[off:off+n], off, p, v)
		}
		off += n
	}
	return nil
}

// part is a byte range of one packet with a description.
type part struct {
	start, end int
	what       string
	secret     bool // show the length prefix only
}

// explainPacket prints the fixed header, remaining length, variable
// header, properties and payload of raw with their offsets in the input
// (raw starts at base).
func explainPacket(w io.Writer, raw []byte, base int, p mqtt.Packet, v mqtt.Version) {
	if c, ok := p.(*mqtt.Connect); ok {
		v = c.Version
	}
	n := 1
	for raw[n]&0x80 != 0 {
		n++
	}
	n++
	flags := raw[0] & 0x0F
	parts := []part{
		{start: 0, end: 1, what: fmt.Sprintf("fixed header: %v, flags 0b%04b%s", p.Type(), flags, flagText(p, flags))},
		{start: 1, end: n, what: fmt.Sprintf("remaining length %d", len(raw)-n)},
	}
	body := len(raw)
	i := n
	add := func(size int, what string) {
		if size <= 0 || i >= body {
			return
		}
		size = min(size, body-i)
		parts = append(parts, part{start: i, end: i + size, what: what})
		i += size
	}
	props := func(what string) {
		if v != mqtt.V5 || i >= body {
			return
		}
		l, ln := uvarint(raw[i:])
		before := len(parts)
		add(ln+l, fmt.Sprintf("%s (length %d)", what, l))
		// Authentication Data may be a token: its bytes are never shown.
		if len(parts) > before && secretProps(p) {
			parts[before].secret = true
		}
	}
	u16 := func(at int) int { return int(raw[at])<<8 | int(raw[at+1]) }
	switch q := p.(type) {
	case *mqtt.Connect:
		add(2+len(q.ProtocolName)+4, "variable header: protocol name, level, flags, keep alive")
		props("properties")
		add(2+len(q.ClientID), "payload: client identifier")
		if q.Will != nil {
			props("will properties")
			add(2+len(q.Will.Topic), "payload: will topic")
			add(2+len(q.Will.Payload), "payload: will payload")
		}
		if q.UsernameSet {
			add(2+u16(i), "payload: user name")
		}
		if q.PasswordSet {
			add(2+u16(i), "payload: password")
			parts[len(parts)-1].secret = true
		}
	case *mqtt.Connack:
		add(2, "variable header: acknowledge flags, reason code")
		props("properties")
	case *mqtt.Publish:
		vh := 2 + len(q.Topic)
		if q.QoS > 0 {
			vh += 2
		}
		add(vh, "variable header: topic name"+map[bool]string{true: ", packet identifier"}[q.QoS > 0])
		props("properties")
		add(body-i, "payload")
	case *mqtt.Puback, *mqtt.Pubrec, *mqtt.Pubrel, *mqtt.Pubcomp:
		add(2, "variable header: packet identifier")
		if v == mqtt.V5 {
			add(1, "variable header: reason code")
			props("properties")
		}
	case *mqtt.Subscribe, *mqtt.Suback, *mqtt.Unsubscribe, *mqtt.Unsuback:
		add(2, "variable header: packet identifier")
		props("properties")
		add(body-i, "payload: "+map[bool]string{true: "topic filters", false: "reason codes"}[p.Type() == mqtt.SUBSCRIBE || p.Type() == mqtt.UNSUBSCRIBE])
	case *mqtt.Disconnect, *mqtt.Auth:
		if v == mqtt.V5 {
			add(1, "variable header: reason code")
			props("properties")
		}
	}
	for _, pt := range parts {
		shown := hexPreview(raw[pt.start:pt.end])
		if pt.secret {
			shown = fmt.Sprintf("% X <redacted>", raw[pt.start:min(pt.start+2, pt.end)])
		}
		fmt.Fprintf(w, "  %04X  %-24s %s\n", base+pt.start, shown, pt.what)
	}
}

// secretProps reports whether p carries Authentication Data.
func secretProps(p mqtt.Packet) bool {
	switch q := p.(type) {
	case *mqtt.Connect:
		return q.Properties.AuthData != nil
	case *mqtt.Connack:
		return q.Properties.AuthData != nil
	case *mqtt.Auth:
		return q.Properties.AuthData != nil
	}
	return false
}

// flagText spells out the PUBLISH flags.
func flagText(p mqtt.Packet, flags byte) string {
	if p.Type() != mqtt.PUBLISH {
		return ""
	}
	return fmt.Sprintf(" (dup=%d qos=%d retain=%d)", flags>>3, flags>>1&3, flags&1)
}

// hexPreview shows up to eight bytes in hex, then "…".
func hexPreview(b []byte) string {
	if len(b) > 8 {
		return fmt.Sprintf("% X …", b[:7])
	}
	return fmt.Sprintf("% X", b)
}

// uvarint decodes an MQTT Variable Byte Integer the codec already accepted.
func uvarint(b []byte) (v, n int) {
	shift := 0
	for n < len(b) && n < 4 {
		c := b[n]
		v |= int(c&0x7F) << shift
		n++
		if c&0x80 == 0 {
			break
		}
		shift += 7
	}
	return v, n
}
