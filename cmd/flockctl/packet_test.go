package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/mqtt/mqtttest"
)

func TestPacketDecode(t *testing.T) {
	dir := t.TempDir()
	binFile := filepath.Join(dir, "packets.bin")
	if err := os.WriteFile(binFile, []byte{0x40, 0x02, 0x00, 0x07, 0xC0, 0x00}, 0o600); err != nil {
		t.Fatal(err)
	}
	hexFile := filepath.Join(dir, "packets.hex")
	if err := os.WriteFile(hexFile, []byte("d0 00\ne0 00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		stdin   string
		want    string
		wantErr error // matched with errors.Is; nil means success
		errText string
	}{
		{
			name: "hex with spaces, version from the leading CONNECT",
			args: []string{"decode", "10 0f 00 04 4d 51 54 54 05 02 00 3c 00 00 02 64 31", "40 03 00 07 10"},
			want: `CONNECT proto="MQTT" version=5.0 clean_start=true keep_alive=60s client_id="d1"` + "\n" +
				`PUBACK id=7 reason=0x10 "no matching subscribers"` + "\n",
		},
		{
			name: "0x prefixes and commas, default 3.1.1",
			args: []string{"decode", "0x30,0x05,0x00,0x01,0x74,0x68,0x69"},
			want: `PUBLISH qos=0 retain=false dup=false topic="t" payload=2B "hi"` + "\n",
		},
		{
			name: "colons and -v 5",
			args: []string{"decode", "-v", "5", "30:06:00:01:74:00:68:69"},
			want: `PUBLISH qos=0 retain=false dup=false topic="t" payload=2B "hi"` + "\n",
		},
		{
			name: "binary file",
			args: []string{"decode", "@" + binFile},
			want: "PUBACK id=7\nPINGREQ\n",
		},
		{
			name: "hex file",
			args: []string{"decode", "@" + hexFile},
			want: "PINGRESP\nDISCONNECT\n",
		},
		{
			name:  "stdin",
			args:  []string{"decode", "-"},
			stdin: "\xc0\x00",
			want:  "PINGREQ\n",
		},
		{
			name: "byte-level breakdown",
			args: []string{"decode", "-x", "-v", "5", "32 0c 00 01 74 00 07 03 23 00 01 68 69 21", "e0 00"},
			want: `PUBLISH qos=1 retain=false dup=false id=7 topic="t" topic_alias=1 payload=3B "hi!"` + "\n" +
				"  0000  32                       fixed header: PUBLISH, flags 0b0010 (dup=0 qos=1 retain=0)\n" +
				"  0001  0C                       remaining length 12\n" +
				"  0002  00 01 74 00 07           variable header: topic name, packet identifier\n" +
				"  0007  03 23 00 01              properties (length 3)\n" +
				"  000B  68 69 21                 payload\n" +
				"DISCONNECT\n" +
				"  000E  E0                       fixed header: DISCONNECT, flags 0b0000\n" +
				"  000F  00                       remaining length 0\n",
		},
		{
			name:    "malformed packet stops with the reason",
			args:    []string{"decode", "c0 00 36 05 00 01 74 00 01"},
			want:    "PINGREQ\n",
			wantErr: mqtt.MalformedPacket,
			errText: "at byte 2: mqtt: malformed packet (0x81): PUBLISH: QoS is 3 [MQTT-3.3.1-4]",
		},
		{
			name:    "truncated input",
			args:    []string{"decode", "30 05 00 01"},
			errText: "input ends inside a packet",
		},
		{
			name: "flags after the input",
			args: []string{"decode", "30 06 00 01 74 00 68 69", "-v", "5"},
			want: `PUBLISH qos=0 retain=false dup=false topic="t" payload=2B "hi"` + "\n",
		},
		{
			name: "breakdown redacts the password",
			args: []string{"decode", "-x", "10 16 00 04 4d 51 54 54 04 c2 00 00 00 01 63 00 01 75 00 04 73 33 63 72"},
			want: `CONNECT proto="MQTT" version=3.1.1 clean_start=true keep_alive=0s client_id="c" username="u" password=<redacted 4B>` + "\n" +
				"  0000  10                       fixed header: CONNECT, flags 0b0000\n" +
				"  0001  16                       remaining length 22\n" +
				"  0002  00 04 4D 51 54 54 04 …   variable header: protocol name, level, flags, keep alive\n" +
				"  000C  00 01 63                 payload: client identifier\n" +
				"  000F  00 01 75                 payload: user name\n" +
				"  0012  00 04 <redacted>         payload: password\n",
		},
		{name: "odd hex", args: []string{"decode", "30 0"}, wantErr: errUsage},
		{name: "bad level", args: []string{"decode", "-v", "6", "c0 00"}, wantErr: errUsage},
		{name: "no input", args: []string{"decode"}, wantErr: errUsage},
		{name: "no subcommand", args: nil, wantErr: errUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runPacket(tt.args, strings.NewReader(tt.stdin), &out)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("runPacket(%q) error = %v, want %v", tt.args, err, tt.wantErr)
			}
			if tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)) {
				t.Errorf("runPacket(%q) error = %v, want it to contain %q", tt.args, err, tt.errText)
			}
			if tt.wantErr == nil && tt.errText == "" && err != nil {
				t.Errorf("runPacket(%q) error: %v", tt.args, err)
			}
			if tt.want != "" && out.String() != tt.want {
				t.Errorf("runPacket(%q) output =\n%s\nwant\n%s", tt.args, out.String(), tt.want)
			}
		})
	}
}

// TestPacketDecodeFixtures: every fixture decodes through the command,
// and -x explains it without failing.
func TestPacketDecodeFixtures(t *testing.T) {
	for _, f := range mqtttest.Fixtures {
		var out bytes.Buffer
		args := []string{"decode", "-x", "-v", string('0' + byte(f.Version)), strings.ToUpper(hexString(f.Raw))}
		if err := runPacket(args, nil, &out); err != nil {
			t.Errorf("%s: runPacket error: %v", f.Name, err)
			continue
		}
		want := f.Packet.(interface{ String() string }).String()
		if first, _, _ := strings.Cut(out.String(), "\n"); first != want {
			t.Errorf("%s: first line = %s, want %s", f.Name, first, want)
		}
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(digits[c>>4])
		s.WriteByte(digits[c&15])
		s.WriteByte(' ')
	}
	return s.String()
}
