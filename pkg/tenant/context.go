package tenant

import "context"

type ctxKey struct{}

// NewContext returns a copy of ctx carrying the tenant id.
func NewContext(ctx context.Context, tid string) context.Context {
	return context.WithValue(ctx, ctxKey{}, tid)
}

// FromContext returns the tenant id ctx carries. It fails closed: ok is
// false when ctx carries none or an invalid one.
func FromContext(ctx context.Context) (tid string, ok bool) {
	tid, _ = ctx.Value(ctxKey{}).(string)
	if !ValidTenantID(tid) {
		return "", false
	}
	return tid, true
}
