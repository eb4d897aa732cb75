// Package apiv1 holds the JSON types of version 1 of the FlockMQ control-plane
// HTTP API, written by hand to match openapi.yaml in this directory, which is
// the source of truth (a test in services/controlplane validates every
// response the server sends against that document). The server and the Go
// client in package client share these types. See README.md for the
// compatibility rules.
package apiv1
