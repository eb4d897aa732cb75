package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// storedSpan bounds the search of Stored: a publish is acknowledged or
// abandoned within PublishTimeout of its record, so its copy, if any, was
// stored well within this span after it (clocks of gateways and NATS
// servers may disagree by seconds, not minutes).
const storedSpan = 2 * time.Minute

// errFound stops a scan at the message looked for.
var errFound = errors.New("bridge: found")

// Stored reports whether tenant's durable stream holds a message
// published to topic with the deduplication id msgID (Message.MsgID),
// stored after since and at most storedSpan later, and when it was stored. It answers a question
// JetStream's own deduplication answers only within its duplicate window
// (two minutes by default): was a QoS 2 message that a client resends
// after its gateway was lost stored the first time [MQTT-4.3.3-10]? It
// reads only that topic's messages of that span, with direct gets.
func (b *Bridge) Stored(ctx context.Context, tenant, topic, msgID string, since time.Time) (found bool, at time.Time, err error) {
	if b.closed.Load() {
		return false, at, ErrClosed
	}
	if err := checkTenant(tenant); err != nil {
		return false, at, err
	}
	subj := string(appendSubject(make([]byte, 0, 64), durableRoot, tenant, "", topic))
	first, err := b.firstSince(ctx, tenant, subj, since)
	if errors.Is(err, ErrNotFound) {
		return false, at, nil // nothing on the topic since then, or no stream at all
	}
	if err != nil {
		return false, at, fmt.Errorf("bridge: look for message %s of tenant %s: %w", msgID, tenant, err)
	}
	state, err := b.streamState(ctx, queueStream(tenant))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, at, nil
	}
	if err != nil {
		return false, at, fmt.Errorf("bridge: look for message %s of tenant %s: %w", msgID, tenant, err)
	}
	until := since.Add(storedSpan)
	err = b.replayDirect(ctx, tenant, []string{subj}, first-1, state.LastSeq, func(msg *nats.Msg, _ uint64) error {
		ts, tsErr := time.Parse(time.RFC3339Nano, msg.Header.Get("Nats-Time-Stamp"))
		if msg.Header.Get(jetstream.MsgIDHeader) == msgID {
			at = ts
			return errFound
		}
		if tsErr == nil && ts.After(until) {
			return errStop
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
		return true, at, nil
	case err == nil, errors.Is(err, errStop), errors.Is(err, errNoStream):
		return false, at, nil
	default:
		return false, at, fmt.Errorf("bridge: look for message %s of tenant %s: %w", msgID, tenant, err)
	}
}

// RetainedSince reports whether tenant's retained message of topic was
// stored at or after t: set by a publish newer than one stored in the
// durable stream at t, which must then not replace it. A topic without a
// retained message reports false (a retained message deleted meanwhile
// leaves no trace, so it is not told apart from one never set).
func (b *Bridge) RetainedSince(ctx context.Context, tenant, topic string, t time.Time) (bool, error) {
	if b.closed.Load() {
		return false, ErrClosed
	}
	if err := checkTenant(tenant); err != nil {
		return false, err
	}
	subj := string(appendSubject(make([]byte, 0, 64), retainedRoot, tenant, "", topic))
	msg, err := b.directGet(ctx, retainedStream(tenant), directRequest{LastBySubj: subj})
	if errors.Is(err, ErrNotFound) {
		return false, nil // nothing retained on the topic, or no retained stream at all
	}
	if err != nil {
		return false, fmt.Errorf("bridge: read the retained message of %q of tenant %s: %w", topic, tenant, err)
	}
	ts, err := time.Parse(time.RFC3339Nano, msg.Header.Get("Nats-Time-Stamp"))
	if err != nil {
		return false, fmt.Errorf("bridge: read the retained message of %q of tenant %s: %w", topic, tenant, err)
	}
	return !ts.Before(t), nil
}

// errStop ends a scan past the span looked at.
var errStop = errors.New("bridge: past the span")
