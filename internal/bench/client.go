package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// conn is one raw MQTT 3.1.1 connection. Writes go through a large buffered
// writer that the caller flushes per batch; reads decode with pkg/mqtt.
type conn struct {
	nc  net.Conn
	w   *bufio.Writer
	br  *bufio.Reader
	r   *mqtt.Reader
	buf []byte // encode scratch
}

// dial connects and completes the CONNECT/CONNACK exchange.
func dial(ctx context.Context, addr, clientID string, keepAlive uint16) (*conn, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: dial %s: %w", addr, err)
	}
	c := &conn{
		nc: nc,
		w:  bufio.NewWriterSize(nc, 64<<10),
		br: bufio.NewReaderSize(nc, 64<<10),
	}
	c.r = mqtt.NewReader(c.br, 16<<20)
	c.r.SetVersion(mqtt.V311)
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	} else {
		nc.SetDeadline(time.Now().Add(30 * time.Second))
	}
	defer nc.SetDeadline(time.Time{})
	connect := &mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V311, CleanStart: true, KeepAlive: keepAlive, ClientID: clientID}
	if err := c.send(connect); err != nil {
		nc.Close()
		return nil, err
	}
	if err := c.w.Flush(); err != nil {
		nc.Close()
		return nil, err
	}
	p, err := c.r.ReadPacket()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bench: read CONNACK from %s: %w", addr, err)
	}
	ack, ok := p.(*mqtt.Connack)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("bench: %s answered CONNECT with %v", addr, p.Type())
	}
	if ack.ReasonCode.IsFailure() {
		nc.Close()
		return nil, fmt.Errorf("bench: %s refused the connection: %w", addr, ack.ReasonCode)
	}
	return c, nil
}

// send encodes p into the write buffer (not flushed).
func (c *conn) send(p mqtt.Packet) error {
	var err error
	c.buf, err = mqtt.Append(c.buf[:0], p, mqtt.V311)
	if err != nil {
		return err
	}
	_, err = c.w.Write(c.buf)
	return err
}

// subscribe subscribes and waits for the SUBACK.
func (c *conn) subscribe(filter string, qos mqtt.QoS) error {
	if err := c.send(&mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: filter, QoS: qos}}}); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.nc.SetReadDeadline(time.Time{})
	for {
		p, err := c.r.ReadPacket()
		if err != nil {
			return fmt.Errorf("bench: read SUBACK: %w", err)
		}
		if sa, ok := p.(*mqtt.Suback); ok {
			if len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0].IsFailure() {
				return fmt.Errorf("bench: subscription to %q refused: %v", filter, sa.ReasonCodes)
			}
			return nil
		}
	}
}

// disconnectPacket is a 3.1.1 DISCONNECT.
var disconnectPacket = []byte{0xE0, 0x00}

// close says goodbye and closes the socket. It writes straight to the
// socket, not through the buffer, because a reader goroutine may be
// flushing acknowledgements at the same time; one Write is never
// interleaved with another on a TCP connection.
func (c *conn) close() {
	c.nc.Write(disconnectPacket)
	c.nc.Close()
}

// checkLoopback refuses any target that is not on this machine.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bench: target %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return errors.New("bench: load may only target loopback addresses (127.0.0.0/8, ::1, localhost), not " + addr)
	}
	return nil
}
