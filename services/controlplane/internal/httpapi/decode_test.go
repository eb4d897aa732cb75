package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
)

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, body string
		limit      int64
		status     int
		field      string
	}{
		{"type error", `{"devices":5}`, 1 << 20, 400, "devices"},
		{"unknown field", `{"devices":[],"colour":"red"}`, 1 << 20, 400, "colour"},
		{"too large", `{"devices":[` + strings.Repeat(`{"id":"a"},`, 200) + `{"id":"a"}]}`, 1024, 413, ""},
		{"trailing garbage", `{"devices":[]}x`, 1 << 20, 400, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
		var v apiv1.BulkCreateDevicesRequest
		err := decode(httptest.NewRecorder(), r, tt.limit, &v)
		e, ok := errors.AsType[*Error](err)
		if !ok || e.Status != tt.status || e.Field != tt.field {
			t.Errorf("%s: decode = %v, want %d on field %q", tt.name, err, tt.status, tt.field)
		}
	}
}

func TestJSONPath(t *testing.T) {
	for in, want := range map[string]string{
		"name":             "name",
		"devices.12.id":    "devices[12].id",
		"devices.0.tags.x": "devices[0].tags.x",
		"":                 "",
	} {
		if got := jsonPath(in); got != want {
			t.Errorf("jsonPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLimiters(t *testing.T) {
	now := time.Unix(1000, 0)
	ls := newLimiters(Limit{Rate: 1, Burst: 2}, func() time.Time { return now })
	for i := range 2 {
		if ok, _ := ls.allow("1.2.3.4"); !ok {
			t.Fatalf("request %d refused within the burst", i)
		}
	}
	ok, wait := ls.allow("1.2.3.4")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("third request = %v, wait %s; want refused with a wait up to 1s", ok, wait)
	}
	if ok, _ := ls.allow("5.6.7.8"); !ok {
		t.Error("another address was limited")
	}
	now = now.Add(time.Second)
	if ok, _ := ls.allow("1.2.3.4"); !ok {
		t.Error("refused after the bucket refilled")
	}
	// Idle keys are forgotten.
	now = now.Add(time.Hour)
	ls.allow("9.9.9.9")
	ls.mu.Lock()
	n := len(ls.byKey)
	ls.mu.Unlock()
	if n != 1 {
		t.Errorf("limiter keeps %d keys after an hour idle, want 1", n)
	}
	if ok, _ := newLimiters(Limit{}, time.Now).allow("x"); !ok {
		t.Error("a zero limit refused a request")
	}
}

func TestErrorNeverLeaksInternalText(t *testing.T) {
	rec := httptest.NewRecorder()
	writeError(rec, toError(errors.New("store: get apikeys.x: nats: secret internal detail")))
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "secret internal detail") {
		t.Errorf("500 body = %s", rec.Body.String())
	}
}
