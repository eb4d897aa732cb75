package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/pkg/tenant"
	"github.com/flockmq/flockmq/services/controlplane/internal/store"
)

// The device quota (Quotas.MaxDevices) is enforced with a counter record,
// store.DeviceCountKey, changed with compare-and-set: a create first
// reserves room in the counter, then writes the device, then returns the
// room it did not use; a delete that removed a device gives one back. So the
// counter is never below the number of devices plus the creates in flight,
// and the quota holds across any number of instances.
//
// A crash between the steps leaves the counter too high. Before refusing a
// create, a counter not written for countStaleAfter (longer than any
// request runs, so no reservation can be in flight) is recounted from the
// device records, with compare-and-set, which heals such drift.

// countStaleAfter is how long a counter must be untouched before a recount
// may lower it.
const countStaleAfter = 5 * time.Minute

func deviceQuotaExceeded(limit int64) *Error {
	return &Error{Status: http.StatusConflict, Code: apiv1.CodeFailedPrecondition,
		Public: fmt.Sprintf("the tenant has reached its quota of %d devices; delete unused devices or ask the operator to raise max_devices", limit)}
}

// maxDevices is the tenant's effective device quota.
func (a *API) maxDevices(ctx context.Context, tid string) (int64, error) {
	o, err := a.overrides(ctx, tid)
	if err != nil {
		return 0, err
	}
	return o.WithDefaults(a.cfg.Defaults).MaxDevices, nil
}

// reserveDevices takes room for up to n devices and returns how many it got
// (0 when the quota is reached).
func (a *API) reserveDevices(ctx context.Context, tid string, n int64) (int64, error) {
	limit, err := a.maxDevices(ctx, tid)
	if err != nil {
		return 0, err
	}
	recounted := false
	for attempt := 0; ; attempt++ {
		var c store.DeviceCount
		rev, written, err := a.st.GetMeta(ctx, store.Secrets, store.DeviceCountKey(tid), &c)
		if errors.Is(err, store.ErrNotFound) {
			// No counter: a tenant from before the quota existed.
			if err := a.recountDevices(ctx, tid, 0); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, internal(err)
		}
		if c.Count+n > limit && !recounted && a.now().Sub(written) > countStaleAfter {
			recounted = true
			if err := a.recountDevices(ctx, tid, rev); err != nil {
				return 0, err
			}
			continue
		}
		grant := min(n, limit-c.Count)
		if grant <= 0 {
			return 0, nil
		}
		c.Count += grant
		_, err = a.st.Update(ctx, store.Secrets, store.DeviceCountKey(tid), c, rev)
		if errors.Is(err, store.ErrConflict) && attempt < maxUpdateAttempts {
			if err := backoff(ctx, attempt); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, internal(err)
		}
		return grant, nil
	}
}

// releaseDevices gives back room for n devices.
func (a *API) releaseDevices(ctx context.Context, tid string, n int64) error {
	if n <= 0 {
		return nil
	}
	for attempt := 0; ; attempt++ {
		var c store.DeviceCount
		rev, err := a.st.Get(ctx, store.Secrets, store.DeviceCountKey(tid), &c)
		if errors.Is(err, store.ErrNotFound) {
			return nil // recounted on the next reservation
		}
		if err != nil {
			return err
		}
		c.Count = max(c.Count-n, 0)
		_, err = a.st.Update(ctx, store.Secrets, store.DeviceCountKey(tid), c, rev)
		if errors.Is(err, store.ErrConflict) && attempt < maxUpdateAttempts {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

// recountDevices sets the counter to the number of device records: created
// when rev is 0, else updated if still at rev (a concurrent writer wins and
// the caller reads again).
func (a *API) recountDevices(ctx context.Context, tid string, rev uint64) error {
	keys, err := a.st.Keys(ctx, store.Config, tenant.DevicesPrefix(tid))
	if err != nil {
		return internal(err)
	}
	c := store.DeviceCount{Count: int64(len(keys))}
	if rev == 0 {
		_, err = a.st.Create(ctx, store.Secrets, store.DeviceCountKey(tid), c)
	} else {
		_, err = a.st.Update(ctx, store.Secrets, store.DeviceCountKey(tid), c, rev)
	}
	if err != nil && !errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrConflict) {
		return internal(err)
	}
	return nil
}

// releaseLogged releases room and logs a failure (the counter stays too
// high until the next recount, which is safe).
func (a *API) releaseLogged(ctx context.Context, tid string, n int64) {
	if err := a.releaseDevices(context.WithoutCancel(ctx), tid, n); err != nil {
		a.log.ErrorContext(ctx, fmt.Sprintf("returning room for %d devices to the quota of tenant %s failed: %v", n, tid, err),
			"tenant_id", tid, "err", err)
	}
}
