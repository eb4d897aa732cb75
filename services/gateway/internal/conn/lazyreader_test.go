package conn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"testing/iotest"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// TestLazyReaderDecodesPackets feeds a stream of packets through the
// lazyReader in every read pattern and checks pkg/mqtt decodes them all,
// and that no buffer is held once the input is consumed.
func TestLazyReaderDecodesPackets(t *testing.T) {
	var stream []byte
	want := 0
	for i := range 200 {
		p := &mqtt.Publish{Topic: "t/x", QoS: 1, PacketID: uint16(i + 1), Payload: bytes.Repeat([]byte{byte(i)}, i*37)}
		var err error
		stream, err = mqtt.Append(stream, p, mqtt.V311)
		if err != nil {
			t.Fatal(err)
		}
		want++
	}
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"whole", func() io.Reader { return bytes.NewReader(stream) }},
		{"one byte at a time", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) }},
		{"half reads", func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) }},
		{"data with EOF", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) }},
	} {
		lr := newLazyReader(tc.r())
		r := mqtt.NewReader(lr, 0)
		r.SetVersion(mqtt.V311)
		got := 0
		for {
			p, err := r.ReadPacket()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: packet %d: %v", tc.name, got, err)
			}
			pub := p.(*mqtt.Publish)
			if int(pub.PacketID) != got+1 || len(pub.Payload) != got*37 {
				t.Fatalf("%s: packet %d = %v", tc.name, got, pub)
			}
			got++
		}
		if got != want {
			t.Errorf("%s: decoded %d packets, want %d", tc.name, got, want)
		}
		if lr.buf != nil {
			t.Errorf("%s: a buffer is still held after the input was consumed", tc.name)
		}
	}
}

func TestLazyReaderEmptyRead(t *testing.T) {
	lr := newLazyReader(bytes.NewReader([]byte{1, 2}))
	if n, err := lr.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
	b, err := lr.ReadByte()
	if b != 1 || err != nil {
		t.Fatalf("ReadByte() = %d, %v; want 1, nil", b, err)
	}
	if b, err = lr.ReadByte(); b != 2 || err != nil {
		t.Fatalf("ReadByte() = %d, %v; want 2, nil", b, err)
	}
	if _, err = lr.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadByte() at the end = %v, want io.EOF", err)
	}
}

// TestLazyReaderLastByteAlone sends a packet whose last byte arrives on
// its own, with nothing after it: the read of that byte must not wait for
// more input (which would hang until the client's next packet).
func TestLazyReaderLastByteAlone(t *testing.T) {
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	lr := newLazyReader(server)
	r := mqtt.NewReader(lr, 0)
	r.SetVersion(mqtt.V311)
	// Between packets, the first byte is read on its own and the second
	// waited for (every packet has two).
	go func() {
		_, _ = client.Write([]byte{0xC0})
		_, _ = client.Write([]byte{0x00})
	}()
	if err := lr.wait(); err != nil {
		t.Fatal(err)
	}
	// A PUBLISH of which only the last byte is missing, then that byte.
	pub, err := mqtt.Append(nil, &mqtt.Publish{Topic: "t", Payload: []byte("xy")}, mqtt.V311)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 2)
	go func() {
		for range 2 {
			p, err := r.ReadPacket()
			if err == nil && p.Type() != mqtt.PINGREQ && p.Type() != mqtt.PUBLISH {
				err = fmt.Errorf("got %s", p.Type())
			}
			got <- err
		}
	}()
	// A hang guard, not a timing check: the reads need no time at all.
	next := func() error {
		select {
		case err := <-got:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("still waiting for input after 10s")
		}
	}
	if err := next(); err != nil {
		t.Fatalf("PINGREQ: %v", err)
	}
	if _, err := client.Write(pub[:len(pub)-1]); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write(pub[len(pub)-1:]); err != nil {
		t.Fatal(err)
	}
	if err := next(); err != nil {
		t.Fatalf("PUBLISH: %v", err)
	}
}
