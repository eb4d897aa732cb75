package telemetry

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// HTTPMiddleware returns middleware that starts a server span per request,
// continuing a traceparent sent by the caller, and records the standard
// http.server.* metrics through the global providers and propagator that
// [Setup] installs. Wrap the whole control-plane mux with it.
//
// Span names stay low-cardinality: a request routed by an [http.ServeMux]
// pattern is named "<METHOD> <route>" (e.g. "GET /v1/tenants/{tenant}");
// any other request, such as a 404, is named "<name> <METHOD>".
func HTTPMiddleware(name string) func(http.Handler) http.Handler {
	format := func(_ string, r *http.Request) string {
		if r.Pattern == "" {
			return name + " " + r.Method
		}
		route := r.Pattern
		// A ServeMux pattern is "[METHOD ][HOST]/PATH"; keep only the path.
		if i := strings.IndexByte(route, '/'); i >= 0 {
			route = route[i:]
		}
		return r.Method + " " + route
	}
	return func(next http.Handler) http.Handler {
		return otelhttp.NewHandler(next, name, otelhttp.WithSpanNameFormatter(format))
	}
}
