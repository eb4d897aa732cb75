// Package guard holds repository-wide tests that keep the layout honest:
// every package documents itself, and the dependency rules of the
// architecture hold (the pure core imports only the standard library, pkg/
// never imports services/, and only the packages named in the rules import
// NATS, Redis and JWT libraries). It has no production code.
package guard
