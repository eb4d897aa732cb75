package subject

import (
	"errors"
	"strconv"
)

// ErrInvalidSubject reports a NATS subject that is not the image of a valid
// MQTT topic name under the given prefix. ParseName wraps it with detail.
var ErrInvalidSubject = errors.New("subject: invalid subject")

// invalidError is ErrInvalidSubject with its detail and, when the subject
// decodes to an invalid topic name, the topic package's error.
type invalidError struct {
	subj, reason string
	cause        error // nil, or a topic.ErrInvalidName
}

func (e *invalidError) Error() string {
	return ErrInvalidSubject.Error() + " " + quote(e.subj) + ": " + e.reason
}

func (e *invalidError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrInvalidSubject}
	}
	return []error{ErrInvalidSubject, e.cause}
}

func subjectError(subj, reason string) error { return &invalidError{subj: subj, reason: reason} }

// quote quotes s for an error message, shortening it past 64 bytes.
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}
