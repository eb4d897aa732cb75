package presence_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flockmq/flockmq/internal/natsembed"
	"github.com/flockmq/flockmq/pkg/presence"
)

// A gateway reports a device's connection and the control plane reads it.
func Example() {
	srv, err := natsembed.Start(natsembed.Config{Port: -1}, nil)
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect("", nats.InProcessServer(srv.NATS()))
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithCancel(context.Background())

	// Gateway side.
	rep, _ := presence.NewReporter(js, presence.Config{GatewayID: "gw-1"}, nil)
	done := make(chan error)
	go func() { done <- rep.Run(ctx) }()
	rep.Connected(ctx, presence.Status{TenantID: "t-acme", DeviceID: "sensor-7", Protocol: 5, RemoteAddr: "192.0.2.7:51000"})
	rep.Disconnected(ctx, "t-acme", "sensor-7", "sensor-7", "keepalive of 60s expired", time.Time{})

	// Control-plane side: wait until the write landed.
	rd, _ := presence.NewReader(js, presence.Config{})
	var st presence.Status
	for st.LastDisconnectReason == "" {
		time.Sleep(10 * time.Millisecond)
		st, _ = rd.Get(ctx, "t-acme", "sensor-7")
	}
	fmt.Println("connected:", st.Connected)
	fmt.Println("last gateway:", st.Gateway)
	fmt.Println("last disconnect:", st.LastDisconnectReason)
	cancel()
	<-done
	// Output:
	// connected: false
	// last gateway: gw-1
	// last disconnect: keepalive of 60s expired
}
