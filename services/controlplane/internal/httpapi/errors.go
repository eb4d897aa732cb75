package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
	"github.com/flockmq/flockmq/services/controlplane/internal/credentials"
)

// Error is an HTTP error: Public and Field are sent, Err is only logged.
type Error struct {
	Status     int
	Code       apiv1.Code
	Public     string
	Field      string
	Err        error
	RetryAfter time.Duration // sets Retry-After on 429
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("httpapi: %d %s: %s: %v", e.Status, e.Code, e.Public, e.Err)
	}
	return fmt.Sprintf("httpapi: %d %s: %s", e.Status, e.Code, e.Public)
}

func (e *Error) Unwrap() error { return e.Err }

func invalid(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: apiv1.CodeInvalidArgument, Field: field, Public: fmt.Sprintf(format, args...)}
}

func notFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Code: apiv1.CodeNotFound, Public: what + " not found"}
}

func internal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: apiv1.CodeInternal,
		Public: "the server failed to handle the request; try again, and report it if it persists", Err: err}
}

// toError classifies any error returned by a handler.
func toError(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	if e, ok := errors.AsType[*credentials.InputError](err); ok {
		return invalid(e.Field, "%s", e.Message)
	}
	return internal(err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client went away; nothing left to tell it
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusTooManyRequests && e.RetryAfter > 0 {
		secs := int(e.RetryAfter.Seconds() + 0.999)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="flockmq"`)
	}
	writeJSON(w, e.Status, apiv1.Error{Error: apiv1.ErrorBody{Code: e.Code, Message: e.Public, Field: e.Field}})
}

// handlerFunc is an HTTP handler that returns its error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// serve runs h and answers its error; server errors are logged with their
// internal cause.
func (a *API) serve(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		e := toError(err)
		if e.Status >= 500 {
			a.log.ErrorContext(r.Context(), "request "+r.Method+" "+r.URL.Path+" failed: "+errText(e.Err),
				slog.String("remote_addr", r.RemoteAddr), slog.Any("err", e.Err))
		}
		setNote(r, e)
		writeError(w, e)
	})
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// maxUpdateAttempts bounds read-modify-write retries on revision conflicts.
const maxUpdateAttempts = 20

// backoff waits a random time growing with attempt (at most about 50ms)
// before a retry, so concurrent writers of one key spread out.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(min(attempt+1, 10)) * int64(5*time.Millisecond)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return &Error{Status: http.StatusServiceUnavailable, Code: apiv1.CodeUnavailable, Public: "the request was cancelled", Err: ctx.Err()}
	case <-t.C:
		return nil
	}
}
