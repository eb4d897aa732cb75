package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	apiv1 "github.com/flockmq/flockmq/api/controlplane/v1"
)

// decode reads one JSON value from the body into v, strictly: at most limit
// bytes, no unknown fields, nothing after the value.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &Error{Status: http.StatusUnsupportedMediaType, Code: apiv1.CodeUnsupportedMedia,
				Public: "send the request body as JSON with Content-Type: application/json"}
		}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return decodeError(err, limit)
		}
		return invalid("", "the request body holds more than one JSON value; send exactly one object")
	}
	return nil
}

func decodeError(err error, limit int64) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: apiv1.CodeBodyTooLarge,
			Public: "the request body is larger than " + humanBytes(limit) + "; split it into smaller requests"}
	}
	if errors.Is(err, io.EOF) {
		return invalid("", "the request body is empty; send a JSON object")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return invalid("", "the request body is truncated JSON; send a complete JSON object")
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return invalid("", "the request body is not valid JSON (error at byte %d)", se.Offset)
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return invalid(jsonPath(te.Field), "must be %s, not a JSON %s", jsonTypeName(te.Type.Kind().String()), te.Value)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return invalid(f, "unknown field %q; remove it or check its spelling", f)
	}
	return invalid("", "the request body cannot be decoded as the expected JSON object")
}

// jsonPath turns encoding/json's "devices.12.id" style into "devices[12].id".
func jsonPath(p string) string {
	parts := strings.Split(p, ".")
	var b strings.Builder
	for i, s := range parts {
		if s != "" && strings.Trim(s, "0123456789") == "" && i > 0 {
			b.WriteString("[" + s + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "int", "int64", "int32", "uint", "uint64", "uint32", "float64":
		return "a number"
	}
	return "a " + kind
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// decodeItem decodes one element of an already read array, strictly.
func decodeItem(raw json.RawMessage, v any) error {
	if string(raw) == "null" {
		return invalid("", "must be an object, not null")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, int64(len(raw)))
	}
	return nil
}
