package listener_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/flockmq/flockmq/services/gateway/internal/listener"
)

func Example() {
	l, err := listener.Listen(listener.Config{Name: "mqtt", Kind: listener.KindTCP, Addr: "127.0.0.1:0"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() {
		served <- l.Serve(context.Background(), listener.HandlerFunc(func(ctx context.Context, c net.Conn) {
			defer c.Close()
			name := c.(interface{ ListenerName() string }).ListenerName()
			fmt.Fprintf(c, "hello from listener %s\n", name)
		}))
	}()

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	greeting, _ := io.ReadAll(c)
	c.Close()
	fmt.Print(strings.ToLower(string(greeting)))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println(l.Shutdown(ctx), <-served)
	// Output:
	// hello from listener mqtt
	// <nil> listener: closed
}
