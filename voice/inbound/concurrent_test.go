package inbound

import (
	"sync"
	"testing"
	"time"

	"layeh.com/gopus"
)

// TestConcurrentUse: a read loop calling Packet and a ticker calling Tick,
// Deadline and Stats at once (run under -race).
func TestConcurrentUse(t *testing.T) {
	payloads := encodeMono(t, phrase(t, "hello"), 960, gopus.Voip, 32000, 0)
	r := New(Config{})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		now := t0
		for {
			select {
			case <-done:
				return
			default:
			}
			now = now.Add(10 * time.Millisecond)
			r.Tick(nil, now)
			r.Deadline()
			r.Stats()
		}
	}()
	for i, p := range payloads {
		for ssrc := uint32(1); ssrc <= 3; ssrc++ {
			r.Packet(nil, Packet{SSRC: ssrc, UserID: "u", Sequence: uint16(i), Opus: p, Arrival: t0.Add(time.Duration(i) * 20 * time.Millisecond)})
		}
	}
	close(done)
	wg.Wait()
	if st := r.Stats(); st.Packets == 0 {
		t.Fatalf("stats %+v", st)
	}
	r.Close(nil, t0.Add(time.Hour))
}
