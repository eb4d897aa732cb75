package bridge

import (
	"sync"
	"testing"
)

// TestFreshStateCoalesces: many concurrent reads of a tenant's stream
// state share a few requests, and each sees every message stored before
// it asked.
func TestFreshStateCoalesces(t *testing.T) {
	srv := startServer(t)
	b := newBridge(t, srv, Config{})
	var last uint64
	for range 5 {
		seq, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "s/1", QoS: 1, Payload: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		last = seq
	}
	const readers = 200
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	seqs := make(chan uint64, readers)
	start := make(chan struct{})
	for range readers {
		wg.Go(func() {
			<-start
			st, err := b.freshState(ctxT(t), "acme")
			if err != nil {
				errs <- err
				return
			}
			seqs <- st.LastSeq
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	close(seqs)
	for err := range errs {
		t.Fatal(err)
	}
	for seq := range seqs {
		if seq < last {
			t.Fatalf("a read saw last sequence %d, want at least %d", seq, last)
		}
	}
	issued := b.tenant("acme").state.issued.Load()
	if issued >= readers/2 {
		t.Errorf("%d readers issued %d requests, want far fewer", readers, issued)
	}
	t.Logf("%d readers, %d requests", readers, issued)

	// A read asked after a message was stored sees it.
	seq, err := b.Publish(ctxT(t), &Message{Tenant: "acme", Topic: "s/1", QoS: 1, Payload: []byte("y")})
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.freshState(ctxT(t), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if st.LastSeq < seq {
		t.Errorf("last sequence %d after storing %d", st.LastSeq, seq)
	}
}
