package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/flockmq/flockmq/pkg/mqtt"
	"github.com/flockmq/flockmq/pkg/topic"
)

func init() {
	register(command{
		name:    "pub",
		summary: "connect as a device and publish MQTT messages",
		run:     runPub,
	})
	register(command{
		name:    "sub",
		summary: "connect as a device, subscribe to topic filters and print what arrives",
		run:     runSub,
	})
}

// Environment variables giving defaults to pub and sub.
const (
	envMQTTURL     = "FLOCK_MQTT_URL"
	envDeviceToken = "FLOCK_DEVICE_TOKEN"
)

const defaultMQTTURL = "mqtt://127.0.0.1:1883"

const connUsage = `Connection flags (pub and sub):
  --url URL          server: mqtt://host[:1883], mqtts://host[:8883], ws://host[:80]/path
                     or wss://host[:443]/path (path defaults to /mqtt);
                     default $FLOCK_MQTT_URL, else ` + defaultMQTTURL + `
  --device ID        device id, sent as the user name; default the token's "sub" claim
  --token JWT        the device's token, sent as the password; default $FLOCK_DEVICE_TOKEN.
                     Without a token the client connects anonymously.
  --token-file F     read the token from a file instead
  --client-id ID     MQTT client id; default the device id (a device may use
                     "<device id>:<suffix>" to hold several connections)
  --keepalive D      keepalive interval (default 30s)
  --timeout D        time allowed to connect and for each acknowledgement (default 10s)
  --ca-file F        PEM certificates to trust for mqtts:// and wss://
  --insecure         do not verify the server's TLS certificate

The client speaks MQTT 5.`

const pubUsage = `usage: flockctl pub [connection flags] -t TOPIC (-m MSG | -f FILE | --stdin) [flags]

Connects as a device and publishes, then disconnects.

  -t TOPIC               topic name (no wildcards)
  -m MSG                 the message
  -f FILE                send the file's content as one message
  --stdin                send each line of standard input as a message
  -q 0|1|2               QoS (default 0); QoS 1 and 2 wait for the server's acknowledgement
  -r                     retain the message
  --count N              publish the message N times (default 1; not with --stdin)
  --interval D           wait D between messages (default 0)
  --user-property k=v    add a user property (repeatable)
  --content-type T       set the content type property

` + connUsage

const subUsage = `usage: flockctl sub [connection flags] -t FILTER [-t FILTER]... [flags]

Connects as a device, subscribes and prints each message as "topic  payload"
(the payload as text when it is valid UTF-8, else its size and hex), or as one
JSON object per line with -o json. Stops on Ctrl-C or after --count messages.

  -t FILTER    topic filter (repeatable)
  -q 0|1|2     maximum QoS (default 0)
  --count N    exit after N messages (default 0: run until interrupted)
  -o FORMAT    text (default) or json

` + connUsage

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// connFlags are the flags pub and sub share.
type connFlags struct {
	url, device, token, tokenFile, clientID, caFile string
	insecure                                        bool
	keepalive, timeout                              time.Duration
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", os.Getenv(envMQTTURL), "server URL")
	fs.StringVar(&c.device, "device", "", "device id")
	fs.StringVar(&c.token, "token", "", "device token (JWT)")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding the device token")
	fs.StringVar(&c.clientID, "client-id", "", "MQTT client id")
	fs.StringVar(&c.caFile, "ca-file", "", "PEM certificates to trust")
	fs.BoolVar(&c.insecure, "insecure", false, "skip TLS verification")
	fs.DurationVar(&c.keepalive, "keepalive", 30*time.Second, "keepalive interval")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "connect and acknowledgement timeout")
}

// endpoint is a parsed server URL.
type endpoint struct {
	scheme string // mqtt, mqtts, ws or wss
	host   string // host:port
	url    string // for ws and wss: the URL to dial
}

// parseEndpoint parses a server URL, filling in default ports and paths.
func parseEndpoint(raw string) (endpoint, error) {
	if raw == "" {
		raw = defaultMQTTURL
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return endpoint{}, fmt.Errorf("--url %q: want scheme://host[:port], e.g. %s: %w", raw, defaultMQTTURL, errUsage)
	}
	var e endpoint
	var port string
	switch strings.ToLower(u.Scheme) {
	case "mqtt", "tcp":
		e.scheme, port = "mqtt", "1883"
	case "mqtts", "ssl", "tls":
		e.scheme, port = "mqtts", "8883"
	case "ws":
		e.scheme, port = "ws", "80"
	case "wss":
		e.scheme, port = "wss", "443"
	default:
		return endpoint{}, fmt.Errorf("--url %q: unsupported scheme %q (use mqtt, mqtts, ws or wss): %w", raw, u.Scheme, errUsage)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return endpoint{}, fmt.Errorf("--url %q: %q is not a port number: %w", raw, port, errUsage)
	}
	e.host = net.JoinHostPort(u.Hostname(), port)
	if e.scheme == "ws" || e.scheme == "wss" {
		w := *u
		w.Scheme = e.scheme
		w.Host = e.host
		if w.Path == "" {
			w.Path = "/mqtt"
		}
		e.url = w.String()
	}
	return e, nil
}

// dial opens the network connection to the server.
func dial(ctx context.Context, e endpoint, tlsConfig *tls.Config) (net.Conn, error) {
	switch e.scheme {
	case "mqtt":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", e.host)
		if err != nil {
			return nil, err
		}
		return packets.NewThreadSafeConn(c), nil
	case "mqtts":
		d := tls.Dialer{Config: tlsConfig}
		c, err := d.DialContext(ctx, "tcp", e.host)
		if err != nil {
			return nil, err
		}
		return packets.NewThreadSafeConn(c), nil
	default: // ws, wss
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig, Proxy: http.ProxyFromEnvironment}}
		ws, _, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{
			HTTPClient:   client,
			Subprotocols: []string{"mqtt"}, // [MQTT-6.0.0-3]
		})
		if err != nil {
			return nil, err
		}
		if ws.Subprotocol() != "mqtt" {
			ws.Close(websocket.StatusProtocolError, "the mqtt subprotocol is required")
			return nil, fmt.Errorf("the server did not accept the WebSocket subprotocol \"mqtt\"")
		}
		ws.SetReadLimit(-1)
		// Each MQTT packet goes out as one or more binary frames [MQTT-6.0.0-1];
		// the wrapper's lock keeps two packets' writes from interleaving.
		return packets.NewThreadSafeConn(websocket.NetConn(context.Background(), ws, websocket.MessageBinary)), nil
	}
}

// tlsConfig builds the TLS configuration for mqtts and wss.
func (c *connFlags) tlsConfig(e endpoint) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(e.host)
	cfg := &tls.Config{ServerName: host, InsecureSkipVerify: c.insecure, MinVersion: tls.VersionTLS12}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate found: %w", c.caFile, errUsage)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// credentials returns the token, device id and client id to connect with.
func (c *connFlags) credentials() (token, device, clientID string, err error) {
	switch {
	case c.token != "" && c.tokenFile != "":
		return "", "", "", fmt.Errorf("give --token or --token-file, not both: %w", errUsage)
	case c.tokenFile != "":
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return "", "", "", fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return "", "", "", fmt.Errorf("--token-file %s is empty: %w", c.tokenFile, errUsage)
		}
	case c.token != "":
		token = c.token
	default:
		token = strings.TrimSpace(os.Getenv(envDeviceToken))
	}
	device = c.device
	if device == "" && token != "" {
		device = tokenSubject(token)
	}
	clientID = c.clientID
	if clientID == "" {
		clientID = device
	}
	return token, device, clientID, nil
}

// tokenSubject returns the "sub" claim of a JWT without verifying it (the
// server verifies), or "" when there is none.
func tokenSubject(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(b, &claims) != nil {
		return ""
	}
	return claims.Sub
}

// mqttClient is a connected MQTT 5 client.
type mqttClient struct {
	c       *paho.Client
	timeout time.Duration
	gone    context.Context // cancelled once the client has shut down

	// paho reports why a connection ended from other goroutines, just
	// after it shut down, and a network error may come before the
	// server's DISCONNECT that caused it; lost waits a moment for both.
	mu           sync.Mutex
	serverReason error         // guarded by mu: the server's DISCONNECT
	netErr       error         // guarded by mu: the first network or protocol error
	serverSet    chan struct{} // closed when serverReason is set
	netSet       chan struct{} // closed when netErr is set
}

// reasonGrace is how long lost waits for a reason after the client shut
// down.
const reasonGrace = 300 * time.Millisecond

// connect dials the server and sends CONNECT; onPublish, when not nil,
// receives the messages the server delivers.
func connect(ctx context.Context, cf *connFlags, onPublish func(*paho.Publish)) (*mqttClient, error) {
	e, err := parseEndpoint(cf.url)
	if err != nil {
		return nil, err
	}
	if cf.keepalive < 0 || cf.keepalive > 65535*time.Second {
		return nil, fmt.Errorf("--keepalive %v: want 0 to 18h12m15s: %w", cf.keepalive, errUsage)
	}
	if cf.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %v: want a positive duration: %w", cf.timeout, errUsage)
	}
	token, device, clientID, err := cf.credentials()
	if err != nil {
		return nil, err
	}
	var tlsConfig *tls.Config
	if e.scheme == "mqtts" || e.scheme == "wss" {
		if tlsConfig, err = cf.tlsConfig(e); err != nil {
			return nil, err
		}
	}
	dctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	conn, err := dial(dctx, e, tlsConfig)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the server at %s: %w", cf.displayURL(), err)
	}
	m := &mqttClient{timeout: cf.timeout, serverSet: make(chan struct{}), netSet: make(chan struct{})}
	cfg := paho.ClientConfig{
		Conn:          conn,
		PacketTimeout: cf.timeout,
		OnServerDisconnect: func(d *paho.Disconnect) {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.serverReason == nil {
				m.serverReason = serverDisconnect(d)
				close(m.serverSet)
			}
		},
		OnClientError: func(err error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.netErr == nil {
				m.netErr = fmt.Errorf("the connection failed: %w", err)
				close(m.netSet)
			}
		},
	}
	if onPublish != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				onPublish(pr.Packet)
				return true, nil
			},
		}
	}
	m.c = paho.NewClient(cfg)
	cp := &paho.Connect{
		ClientID:   clientID,
		KeepAlive:  uint16(cf.keepalive / time.Second),
		CleanStart: true,
	}
	// The device id is the user name and the token the password. MQTT 5
	// allows a password without a user name (3.1.1 did not
	// [MQTT-3.1.2-22]), which is what a token without a "sub" and no
	// --device sends.
	if device != "" {
		cp.Username, cp.UsernameFlag = device, true
	}
	if token != "" {
		cp.Password, cp.PasswordFlag = []byte(token), true
	}
	ca, err := m.c.Connect(dctx, cp)
	if err != nil {
		if ca != nil && ca.ReasonCode >= 0x80 {
			return nil, refused(ca, token != "")
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("the server at %s did not answer CONNECT within %v", cf.displayURL(), cf.timeout)
		}
		return nil, fmt.Errorf("connect to %s: %w", cf.displayURL(), err)
	}
	gone, cancelGone := context.WithCancel(context.Background())
	m.gone = gone
	go func() { // ends with the client, which close waits for
		<-m.c.Done()
		cancelGone()
	}()
	return m, nil
}

func (c *connFlags) displayURL() string {
	if c.url == "" {
		return defaultMQTTURL
	}
	return c.url
}

// lost returns why the connection ended; call it once the client is done.
func (m *mqttClient) lost() error {
	t := time.NewTimer(reasonGrace)
	defer t.Stop()
	select {
	case <-m.serverSet:
	case <-m.netSet:
		// A DISCONNECT from the server may still be on its way.
		select {
		case <-m.serverSet:
		case <-t.C:
		}
	case <-t.C:
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.serverReason != nil:
		return m.serverReason
	case m.netErr != nil:
		return m.netErr
	}
	return errors.New("the server closed the connection")
}

// close sends DISCONNECT (normal disconnection) and waits for the client
// to shut down.
func (m *mqttClient) close() {
	_ = m.c.Disconnect(&paho.Disconnect{ReasonCode: byte(mqtt.NormalDisconnection)})
	select {
	case <-m.c.Done():
	case <-time.After(m.timeout):
	}
}

// refused describes a CONNACK failure in words.
func refused(ca *paho.Connack, withToken bool) error {
	rc := mqtt.ReasonCode(ca.ReasonCode)
	msg := fmt.Sprintf("the server refused the connection: %s (0x%02X)", rc.String(), byte(rc))
	if ca.Properties != nil && ca.Properties.ReasonString != "" {
		msg += fmt.Sprintf(", saying %q", ca.Properties.ReasonString)
	}
	if hint := connackHint(rc, withToken); hint != "" {
		msg += " — " + hint
	}
	return errors.New(msg)
}

func connackHint(rc mqtt.ReasonCode, withToken bool) string {
	switch rc {
	case mqtt.BadUsernameOrPassword, mqtt.NotAuthorized:
		if !withToken {
			return "no token was given: pass --token or --token-file, or set " + envDeviceToken
		}
		if rc == mqtt.BadUsernameOrPassword {
			return "is the token expired?"
		}
		return "is the token expired or revoked, or the device disabled?"
	case mqtt.ClientIDNotValid:
		return `the client id must be the device id or start with "<device id>:"`
	case mqtt.UnsupportedProtocolVersion:
		return "the server does not speak MQTT 5"
	case mqtt.ServerUnavailable, mqtt.ServerBusy, mqtt.ConnectionRateExceeded:
		return "try again in a moment"
	case mqtt.QuotaExceeded:
		return "the tenant's connection quota is used up"
	case mqtt.UseAnotherServer, mqtt.ServerMoved:
		return "the server asks to connect elsewhere"
	}
	return ""
}

// serverDisconnect describes a DISCONNECT sent by the server.
func serverDisconnect(d *paho.Disconnect) error {
	rc := mqtt.ReasonCode(d.ReasonCode)
	msg := fmt.Sprintf("the server ended the connection: %s (0x%02X)", rc.String(), byte(rc))
	if d.Properties != nil && d.Properties.ReasonString != "" {
		msg += fmt.Sprintf(", saying %q", d.Properties.ReasonString)
	}
	return errors.New(msg)
}

// parseFlags parses a subcommand's flags; -h prints the usage text.
func parseFlags(fs *flag.FlagSet, args []string, usage string, stdout io.Writer) (help bool, err error) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, usage)
			return true, nil
		}
		return false, fmt.Errorf("%s: %v: %w", fs.Name(), err, errUsage)
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("%s: unexpected argument %q: %w", fs.Name(), fs.Arg(0), errUsage)
	}
	return false, nil
}

func checkQoS(q int) error {
	if q < 0 || q > 2 {
		return fmt.Errorf("-q %d: QoS must be 0, 1 or 2: %w", q, errUsage)
	}
	return nil
}

func runPub(ctx context.Context, args []string) error {
	return pub(ctx, args, os.Stdin, os.Stdout)
}

// pubOptions are pub's own flags.
type pubOptions struct {
	topic, message, file, contentType string
	stdin, retain                     bool
	qos, count                        int
	interval                          time.Duration
	userProps                         stringList
}

func pub(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("pub", flag.ContinueOnError)
	var cf connFlags
	cf.register(fs)
	var o pubOptions
	fs.StringVar(&o.topic, "t", "", "topic")
	fs.StringVar(&o.message, "m", "", "message")
	fs.StringVar(&o.file, "f", "", "file to send")
	fs.BoolVar(&o.stdin, "stdin", false, "one message per line of stdin")
	fs.IntVar(&o.qos, "q", 0, "QoS")
	fs.BoolVar(&o.retain, "r", false, "retain")
	fs.IntVar(&o.count, "count", 1, "times to publish")
	fs.DurationVar(&o.interval, "interval", 0, "wait between messages")
	fs.Var(&o.userProps, "user-property", "k=v")
	fs.StringVar(&o.contentType, "content-type", "", "content type")
	if help, err := parseFlags(fs, args, pubUsage, stdout); help || err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if o.topic == "" {
		return fmt.Errorf("pub: -t TOPIC is required: %w", errUsage)
	}
	if err := topic.ValidateName(o.topic); err != nil { // [MQTT-3.3.2-2] no wildcards in a topic name
		return fmt.Errorf("pub: -t: %v: %w", err, errUsage)
	}
	sources := 0
	for _, s := range []string{"m", "f", "stdin"} {
		if set[s] {
			sources++
		}
	}
	if sources != 1 {
		return fmt.Errorf("pub: give exactly one of -m MSG, -f FILE or --stdin: %w", errUsage)
	}
	if err := checkQoS(o.qos); err != nil {
		return fmt.Errorf("pub: %w", err)
	}
	if o.count < 1 {
		return fmt.Errorf("pub: --count %d: want 1 or more: %w", o.count, errUsage)
	}
	if o.stdin && set["count"] {
		return fmt.Errorf("pub: --count does not apply to --stdin (each line is sent once): %w", errUsage)
	}
	if o.interval < 0 {
		return fmt.Errorf("pub: --interval must not be negative: %w", errUsage)
	}
	var props *paho.PublishProperties
	if len(o.userProps) > 0 || o.contentType != "" {
		props = &paho.PublishProperties{ContentType: o.contentType}
		for _, kv := range o.userProps {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("pub: --user-property %q: want key=value: %w", kv, errUsage)
			}
			props.User.Add(k, v)
		}
	}
	var payload []byte
	switch {
	case set["m"]:
		payload = []byte(o.message)
	case set["f"]:
		b, err := os.ReadFile(o.file)
		if err != nil {
			return fmt.Errorf("pub: -f: %w", err)
		}
		payload = b
	}

	m, err := connect(ctx, &cf, nil)
	if err != nil {
		return fmt.Errorf("pub: %w", err)
	}
	defer m.close()

	send := func(body []byte) error {
		p := &paho.Publish{Topic: o.topic, QoS: byte(o.qos), Retain: o.retain, Payload: body, Properties: props}
		pctx, cancel := context.WithTimeout(ctx, m.timeout)
		defer cancel()
		defer context.AfterFunc(m.gone, cancel)() // stop waiting for the ack when the connection ends
		resp, err := m.c.Publish(pctx, p)
		if resp != nil && resp.ReasonCode >= 0x80 {
			return fmt.Errorf("pub: the server refused the message: %s", publishRefusal(resp))
		}
		if err != nil {
			select {
			case <-m.c.Done():
				return fmt.Errorf("pub: %w", m.lost())
			default:
			}
			return fmt.Errorf("pub: publish to %q: %w", o.topic, err)
		}
		return nil
	}
	wait := func(first bool) error {
		if first || o.interval == 0 {
			return ctx.Err()
		}
		t := time.NewTimer(o.interval)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	if o.stdin {
		r := bufio.NewReader(stdin)
		for first := true; ; first = false {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				line = trimEOL(line)
				if err := wait(first); err != nil {
					return nil // interrupted
				}
				if err := send(line); err != nil {
					return err
				}
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("pub: read stdin: %w", err)
			}
		}
	}
	for i := range o.count {
		if err := wait(i == 0); err != nil {
			return nil // interrupted
		}
		if err := send(payload); err != nil {
			return err
		}
	}
	return nil
}

func trimEOL(b []byte) []byte {
	return bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
}

func publishRefusal(r *paho.PublishResponse) string {
	rc := mqtt.ReasonCode(r.ReasonCode)
	s := fmt.Sprintf("%s (0x%02X)", rc.String(), byte(rc))
	if r.Properties != nil && r.Properties.ReasonString != "" {
		s += fmt.Sprintf(", saying %q", r.Properties.ReasonString)
	}
	return s
}

func runSub(ctx context.Context, args []string) error {
	return sub(ctx, args, os.Stdout, nil)
}

// sub runs the sub command; ready, when not nil, is called once the
// subscriptions are acknowledged.
func sub(ctx context.Context, args []string, stdout io.Writer, ready func()) error {
	fs := flag.NewFlagSet("sub", flag.ContinueOnError)
	var cf connFlags
	cf.register(fs)
	var filters stringList
	fs.Var(&filters, "t", "topic filter")
	qos := fs.Int("q", 0, "QoS")
	count := fs.Int("count", 0, "exit after N messages")
	format := fs.String("o", "text", "output format")
	if help, err := parseFlags(fs, args, subUsage, stdout); help || err != nil {
		return err
	}
	if len(filters) == 0 {
		return fmt.Errorf("sub: at least one -t FILTER is required: %w", errUsage)
	}
	for _, f := range filters {
		if err := topic.ValidateFilter(f); err != nil { // [MQTT-4.7.1-2] [MQTT-4.7.1-3]
			return fmt.Errorf("sub: -t: %v: %w", err, errUsage)
		}
	}
	if err := checkQoS(*qos); err != nil {
		return fmt.Errorf("sub: %w", err)
	}
	if *count < 0 {
		return fmt.Errorf("sub: --count %d: want 0 or more: %w", *count, errUsage)
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("sub: -o %q: want text or json: %w", *format, errUsage)
	}

	msgs := make(chan *paho.Publish, 256)
	stop := make(chan struct{}) // closed before disconnecting, to release a blocked callback
	m, err := connect(ctx, &cf, func(p *paho.Publish) {
		select {
		case msgs <- p:
		case <-stop:
		}
	})
	if err != nil {
		return fmt.Errorf("sub: %w", err)
	}
	defer m.close()
	defer close(stop)

	s := &paho.Subscribe{}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: byte(*qos)})
	}
	sctx, cancel := context.WithTimeout(ctx, m.timeout)
	sa, err := m.c.Subscribe(sctx, s)
	cancel()
	if sa != nil {
		for i, rc := range sa.Reasons {
			if rc >= 0x80 && i < len(filters) { // [MQTT-3.9.3-1] one reason code per filter, in order
				return fmt.Errorf("sub: the server refused the subscription to %q: %s (0x%02X)", filters[i], mqtt.ReasonCode(rc).String(), rc)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("sub: subscribe: %w", err)
	}
	if ready != nil {
		ready()
	}

	w := bufio.NewWriter(stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for n := 0; *count == 0 || n < *count; n++ {
		var p *paho.Publish
		select {
		case <-ctx.Done():
			return nil
		case <-m.c.Done():
			return fmt.Errorf("sub: %w", m.lost())
		case p = <-msgs:
		}
		if *format == "json" {
			if err := enc.Encode(jsonMessageOf(p)); err != nil {
				return fmt.Errorf("sub: write: %w", err)
			}
		} else {
			fmt.Fprintf(w, "%s  %s\n", p.Topic, payloadText(p.Payload))
		}
		if len(msgs) == 0 {
			if err := w.Flush(); err != nil {
				return fmt.Errorf("sub: write: %w", err)
			}
		}
	}
	return nil
}

// payloadText shows a payload to a person: as is when it is valid UTF-8,
// else its size and hex.
func payloadText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return fmt.Sprintf("<%d bytes, not UTF-8> %x", len(b), b)
}

// jsonMessage is one line of `sub -o json`.
type jsonMessage struct {
	Topic  string `json:"topic"`
	QoS    byte   `json:"qos"`
	Retain bool   `json:"retain"`
	// Payload is the payload when it is valid UTF-8; PayloadBase64 otherwise.
	Payload       *string         `json:"payload,omitempty"`
	PayloadBase64 []byte          `json:"payload_base64,omitempty"`
	Properties    *jsonProperties `json:"properties,omitempty"`
}

type jsonProperties struct {
	ContentType            string         `json:"content_type,omitempty"`
	ResponseTopic          string         `json:"response_topic,omitempty"`
	CorrelationData        []byte         `json:"correlation_data,omitempty"`
	PayloadFormat          *byte          `json:"payload_format,omitempty"`
	MessageExpiry          *uint32        `json:"message_expiry,omitempty"`
	SubscriptionIdentifier *int           `json:"subscription_identifier,omitempty"`
	UserProperties         []userProperty `json:"user_properties,omitempty"`
}

type userProperty struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func jsonMessageOf(p *paho.Publish) jsonMessage {
	j := jsonMessage{Topic: p.Topic, QoS: p.QoS, Retain: p.Retain}
	if utf8.Valid(p.Payload) {
		s := string(p.Payload)
		j.Payload = &s
	} else {
		j.PayloadBase64 = p.Payload
	}
	if pp := p.Properties; pp != nil {
		jp := jsonProperties{
			ContentType:            pp.ContentType,
			ResponseTopic:          pp.ResponseTopic,
			CorrelationData:        pp.CorrelationData,
			PayloadFormat:          pp.PayloadFormat,
			MessageExpiry:          pp.MessageExpiry,
			SubscriptionIdentifier: pp.SubscriptionIdentifier,
		}
		for _, u := range pp.User {
			jp.UserProperties = append(jp.UserProperties, userProperty{u.Key, u.Value})
		}
		if jp.ContentType != "" || jp.ResponseTopic != "" || jp.CorrelationData != nil || jp.PayloadFormat != nil ||
			jp.MessageExpiry != nil || jp.SubscriptionIdentifier != nil || len(jp.UserProperties) > 0 {
			j.Properties = &jp
		}
	}
	return j
}
