package apiv1

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file is the hand-written part of the package: the few conveniences
// the generated client leaves to its users (authentication, typed errors,
// pagination).

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 20

// New returns a client for the API at server (e.g.
// "https://cp.example.com") that authenticates with key: a tenant API key,
// the operator's admin key, or "" for signup and the health probes. A nil
// hc means an http.Client with a 60-second timeout.
//
// Every response with a status of 300 or more comes back as an error of
// type [*APIError] (the XxxWithResponse method returns a nil response), so
// a nil error means the JSON2xx field of the operation's success status is
// set, except for operations answering 204 No Content. The client is safe
// for concurrent use.
func New(server, key string, hc *http.Client) *ClientWithResponses {
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	if !strings.HasSuffix(server, "/") {
		server += "/"
	}
	c := &Client{Server: server, Client: errorDoer{hc}}
	if key != "" {
		c.RequestEditors = []RequestEditorFn{func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+key)
			return nil
		}}
	}
	return &ClientWithResponses{ClientInterface: c}
}

// errorDoer sends requests with hc and turns error responses into
// *APIError values.
type errorDoer struct{ hc *http.Client }

var _ HttpRequestDoer = errorDoer{}

func (d errorDoer) Do(req *http.Request) (*http.Response, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("apiv1: %s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode < http.StatusMultipleChoices {
		return resp, nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return nil, fmt.Errorf("apiv1: %s %s: read %d response: %w", req.Method, req.URL.Path, resp.StatusCode, err)
	}
	return nil, newAPIError(resp, data)
}

// APIError is an error response of the API: its HTTP status and the body's
// code, message and (for a refused request field) field.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	ErrorBody
	// RetryAfter is the Retry-After header of a 429 answer, 0 if absent.
	RetryAfter time.Duration
}

// newAPIError builds the error for resp, whose body is data. A body that is
// not the API's error document (a proxy's page, say) gives the code
// "http_<status>" and the body's text as the message.
func newAPIError(resp *http.Response, data []byte) *APIError {
	e := &APIError{Status: resp.StatusCode}
	var body Error
	if json.Unmarshal(data, &body) == nil && body.Error.Code != "" {
		e.ErrorBody = body.Error
	} else {
		e.Code = Code("http_" + strconv.Itoa(resp.StatusCode))
		e.Message = strings.TrimSpace(string(data))
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("apiv1: %d %s: %s", e.Status, e.Code, e.Message)
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s
}

// IsNotFound reports whether err is, or wraps, a 404 answer of the API.
func IsNotFound(err error) bool {
	e, ok := errors.AsType[*APIError](err)
	return ok && e.Status == http.StatusNotFound
}

// Devices returns the devices params selects, in ascending id order,
// fetching one page after another (params.Cursor is where it starts;
// params.Limit is the page size). It yields a non-nil error at most once,
// as its last element.
func (c *ClientWithResponses) Devices(ctx context.Context, params ListDevicesParams) iter.Seq2[Device, error] {
	return func(yield func(Device, error) bool) {
		for {
			page, err := OK(c.ListDevicesWithResponse(ctx, &params))
			if err != nil {
				yield(Device{}, err)
				return
			}
			for _, d := range page.Items {
				if !yield(d, nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			params.Cursor = &page.NextCursor
		}
	}
}

// OK returns the body of a successful call of an operation answering 200,
// so that a call of the generated client reads
//
//	tenant, err := apiv1.OK(c.GetTenantWithResponse(ctx))
//
// It returns err if it is not nil, and an error if the answer had no JSON
// body (a response with another 2xx status or content type).
func OK[T any](r interface {
	GetJSON200() *T
	StatusCode() int
}, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	return deref(r.GetJSON200(), r.StatusCode())
}

// Created is [OK] for the operations answering 201 Created.
func Created[T any](r interface {
	GetJSON201() *T
	StatusCode() int
}, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	return deref(r.GetJSON201(), r.StatusCode())
}

// NoContent returns the error of a call of an operation answering 204 No
// Content (the deletes), so that a call reads
//
//	err := apiv1.NoContent(c.DeleteDeviceWithResponse(ctx, id))
//
// It returns err if it is not nil, and an error for another 2xx status.
func NoContent(r interface{ StatusCode() int }, err error) error {
	if err != nil {
		return err
	}
	if s := r.StatusCode(); s != http.StatusNoContent {
		return fmt.Errorf("apiv1: a %d answer where the document describes 204 No Content", s)
	}
	return nil
}

func deref[T any](v *T, status int) (T, error) {
	if v == nil {
		var zero T
		return zero, fmt.Errorf("apiv1: a %d answer without the JSON body the document describes", status)
	}
	return *v, nil
}
