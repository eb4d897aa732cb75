package conn

import (
	"testing"
	"unsafe"
)

// TestConnSize keeps a Conn within the 448-byte allocation size class:
// every connection holds one, idle or not, and the next class is 480
// bytes (ADR 0008). A field that pushes it over belongs in the delivery
// state or another struct made on first use.
func TestConnSize(t *testing.T) {
	if got := unsafe.Sizeof(Conn{}); got > 448 {
		t.Errorf("a Conn is %d bytes, more than the 448-byte size class", got)
	}
}
