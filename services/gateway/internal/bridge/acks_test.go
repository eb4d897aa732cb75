package bridge

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestParseAck(t *testing.T) {
	noResp := &nats.Msg{Header: nats.Header{statusHdr: []string{noResponders}}}
	cases := []struct {
		name string
		msg  *nats.Msg
		seq  uint64
		err  error
	}{
		{"plain", &nats.Msg{Data: []byte(`{"stream":"FLOCK_ACME","seq":42}`)}, 42, nil},
		{"duplicate", &nats.Msg{Data: []byte(`{"stream":"S","seq":7,"duplicate":true}`)}, 7, nil},
		{"domain", &nats.Msg{Data: []byte(`{"stream":"S","domain":"hub","seq":18446744073709551615}`)}, 18446744073709551615, nil},
		{"spaces", &nats.Msg{Data: []byte(`{"stream": "S", "seq": 9}`)}, 9, nil},
		{"no stream", noResp, 0, jetstream.ErrNoStreamResponse},
		{"empty", &nats.Msg{}, 0, jetstream.ErrInvalidJSAck},
		{"garbage", &nats.Msg{Data: []byte(`not json`)}, 0, jetstream.ErrInvalidJSAck},
		{"zero seq", &nats.Msg{Data: []byte(`{"stream":"S","seq":0}`)}, 0, jetstream.ErrInvalidJSAck},
	}
	for _, c := range cases {
		seq, err := parseAck(c.msg)
		if seq != c.seq || !errors.Is(err, c.err) {
			t.Errorf("%s: parseAck = %d, %v; want %d, %v", c.name, seq, err, c.seq, c.err)
		}
	}
	seq, err := parseAck(&nats.Msg{Data: []byte(`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"S","seq":0}`)})
	var apiErr *jetstream.APIError
	if seq != 0 || !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 {
		t.Errorf("error acknowledgement: parseAck = %d, %v; want the API error 10077", seq, err)
	}
	if !errors.Is(classify(err), ErrQueueFull) {
		t.Errorf("classify(%v) is not ErrQueueFull", err)
	}
}

// TestAckerTimeouts: a publish beyond the pending limit waits for a free
// slot and gives up after its stall time; a publish nobody acknowledges
// fails after the timeout (and counts as unavailable), which frees its
// slot; close reports what is still unacknowledged and fails it.
func TestAckerTimeouts(t *testing.T) {
	srv := startServer(t)
	nc := connect(t, srv)
	// A core subscriber that never answers: no JetStream acknowledgement
	// and no "no responders" status either.
	if _, err := nc.Subscribe("silent.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}

	stalled, err := newAcker(nc, "gw1", 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	stalled.stall = 10 * time.Millisecond
	if _, err := stalled.publish("silent.a", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := stalled.publish("silent.b", []byte("y"), nats.Header{"K": []string{"v"}}); !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
		t.Errorf("publish beyond the pending limit: %v, want ErrTooManyStalledMsgs", err)
	}
	if err := stalled.close(time.After(10 * time.Millisecond)); err == nil {
		t.Error("close with an unacknowledged publish reported nothing")
	}

	a, err := newAcker(nc, "gw2", 1, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	w, err := a.publish("silent.c", []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.wait(nil, nil); !errors.Is(err, jetstream.ErrAsyncPublishTimeout) || !errors.Is(classify(err), ErrUnavailable) {
		t.Errorf("unacknowledged publish: %v, want a timeout classified as unavailable", err)
	}
	// Its slot is free again.
	late, err := a.publish("silent.d", []byte("z"), nil)
	if err != nil {
		t.Fatalf("publish after the timeout freed the slot: %v", err)
	}
	_ = a.close(time.After(time.Millisecond))
	if _, err := late.wait(nil, nil); !errors.Is(err, ErrClosed) && !errors.Is(err, jetstream.ErrAsyncPublishTimeout) {
		t.Errorf("publish unacknowledged at close: %v, want ErrClosed (or its timeout)", err)
	}
	if _, err := a.publish("silent.e", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("publish after close: %v, want ErrClosed", err)
	}
}
