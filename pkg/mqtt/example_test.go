package mqtt_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

func ExampleAppend() {
	var buf []byte // reused for every write
	buf, _ = mqtt.Append(buf[:0], &mqtt.Publish{QoS: 1, PacketID: 7, Topic: "sensors/t1", Payload: []byte("21.5")}, mqtt.V311)
	buf, _ = mqtt.Append(buf, &mqtt.Pingreq{}, mqtt.V311)
	fmt.Printf("% X\n", buf)
	// Output: 32 12 00 0A 73 65 6E 73 6F 72 73 2F 74 31 00 07 32 31 2E 35 C0 00
}

func ExampleReader() {
	stream := []byte{
		0x10, 17, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 5, 'd', 'e', 'v', '-', '1', // CONNECT 3.1.1
		0x30, 7, 0, 3, 'a', '/', 'b', 'h', 'i', // PUBLISH QoS 0
		0x36, 5, 0, 1, 't', 0, 1, // PUBLISH with QoS 3
	}
	r := mqtt.NewReader(bufio.NewReader(bytes.NewReader(stream)), 0)
	for {
		p, err := r.ReadPacket()
		if err != nil {
			var rc mqtt.ReasonCode
			errors.As(err, &rc)
			fmt.Printf("error, answer with 0x%02X: %v\n", byte(rc), err)
			return
		}
		fmt.Println(p)
	}
	// Output:
	// CONNECT proto="MQTT" version=3.1.1 clean_start=true keep_alive=60s client_id="dev-1"
	// PUBLISH qos=0 retain=false dup=false topic="a/b" payload=2B "hi"
	// error, answer with 0x81: mqtt: malformed packet (0x81): PUBLISH: QoS is 3 [MQTT-3.3.1-4]
}
