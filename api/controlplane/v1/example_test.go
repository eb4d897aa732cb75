package apiv1_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
)

func Example() {
	// A stand-in for the control plane that knows one device.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/v1/devices/sensor-7" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"device not found"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":"sensor-7","tags":{"site":"berlin"},"disabled":false,`+
			`"created_at":"2026-11-25T10:00:00Z","updated_at":"2026-11-25T10:00:00Z"}`)
	}))
	defer srv.Close()

	ctx := context.Background()
	c := apiv1.New(srv.URL, "fmq_0123456789abcdef_secret", nil)
	d, err := apiv1.OK(c.GetDeviceWithResponse(ctx, "sensor-7"))
	fmt.Println(d.ID, d.Tags["site"], err)
	_, err = apiv1.OK(c.GetDeviceWithResponse(ctx, "sensor-8"))
	fmt.Println(apiv1.IsNotFound(err), err)
	// Output:
	// sensor-7 berlin <nil>
	// true apiv1: 404 not_found: device not found
}
