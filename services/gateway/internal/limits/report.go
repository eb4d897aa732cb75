package limits

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/flockmq/flockmq/pkg/mqtt"
)

// hit records that the tenant hit limit k: the exceeded counter always,
// a log line at most once per LogInterval per tenant and limit. limit is the
// limit's value; a and b are details that depend on k (see message). code
// is what the caller answers, mqtt.Success for a value that was reduced
// rather than refused. When the line is suppressed, hit costs two atomic
// operations and the counter's Add.
func (t *Tenant) hit(now int64, k Limit, clientID string, code mqtt.ReasonCode, limit, a, b int64) {
	t.l.exceeded.Add(context.Background(), 1, t.addOpts[k]...)
	suppressed, ok := t.events[k].shouldLog(now, t.l.cfg.LogInterval)
	if !ok {
		return
	}
	msg := t.message(k, clientID, code, limit, a, b)
	if suppressed > 0 {
		msg += fmt.Sprintf(" (%d more like this since the last such line, not logged)", suppressed)
	}
	attrs := []slog.Attr{
		slog.String("tenant_id", t.id),
		slog.String("client_id", clientID),
		slog.String("limit", k.String()),
		slog.Int64("limit_value", limit),
		slog.Int64("suppressed", suppressed),
	}
	level := slog.LevelInfo // a value reduced, not a request refused
	if code != mqtt.Success {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("reason_code", hexCode(code)))
	}
	t.l.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// message is the log line's sentence for limit k.
func (t *Tenant) message(k Limit, clientID string, code mqtt.ReasonCode, limit, a, b int64) string {
	id, rc := t.id, hexCode(code)
	switch k {
	case LimitConnections:
		return fmt.Sprintf("tenant %s is at its limit of %d connections (%d on this gateway, %d on others); client %s's connection refused with %s",
			id, limit, a, b, clientID, rc)
	case LimitMessageRate:
		if code == mqtt.Success {
			return fmt.Sprintf("tenant %s is over its limit of %d messages/s; its clients are slowed down (client %s's publish held back %s)",
				id, limit, clientID, time.Duration(a))
		}
		return fmt.Sprintf("tenant %s is over its limit of %d messages/s; client %s's publish refused with %s",
			id, limit, clientID, rc)
	case LimitByteRate:
		if code == mqtt.Success {
			return fmt.Sprintf("tenant %s is over its limit of %d payload bytes/s; its clients are slowed down (client %s's publish of %d bytes held back %s)",
				id, limit, clientID, a, time.Duration(b))
		}
		return fmt.Sprintf("tenant %s is over its limit of %d payload bytes/s; client %s's publish of %d bytes refused with %s",
			id, limit, clientID, a, rc)
	case LimitPayloadSize:
		return fmt.Sprintf("tenant %s allows payloads of at most %d bytes; client %s's publish of %d bytes refused with %s",
			id, limit, clientID, a, rc)
	case LimitSubscriptions:
		return fmt.Sprintf("tenant %s allows at most %d subscriptions per device; client %s has %d and asked for %d more, refused with %s",
			id, limit, clientID, a, b, rc)
	case LimitRetained:
		return fmt.Sprintf("tenant %s is at its limit of %d retained messages; client %s's new retained message refused with %s",
			id, limit, clientID, rc)
	case LimitQueued:
		return fmt.Sprintf("tenant %s allows at most %d queued messages per session; client %s's session is full, a message for it refused with %s",
			id, limit, clientID, rc)
	case LimitSessionExpiry:
		return fmt.Sprintf("tenant %s keeps sessions at most %s after they disconnect; client %s asked for %s and gets %s",
			id, seconds(limit), clientID, seconds(a), seconds(limit))
	}
	return fmt.Sprintf("tenant %s hit its %s limit of %d; client %s refused with %s", id, k, limit, clientID, rc)
}

// hexCode formats a reason code as on the wire, e.g. "0x96".
func hexCode(rc mqtt.ReasonCode) string { return fmt.Sprintf("0x%02X", byte(rc)) }

// seconds formats a session expiry in seconds for people: "3600s (1h0m0s)".
func seconds(s int64) string {
	if s >= 0xFFFFFFFF {
		return "no expiry (" + strconv.FormatInt(s, 10) + "s)"
	}
	return strconv.FormatInt(s, 10) + "s (" + (time.Duration(s) * time.Second).String() + ")"
}
