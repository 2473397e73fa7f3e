package inbound

import (
	"runtime"
	"testing"
	"time"

	"layeh.com/gopus"
)

// TestMemoryPerSpeaker: a speaker's state is bounded and small. 64
// speakers (the default cap) each fed two seconds of 64 kb/s speech, with
// every slot of the reorder buffer used, stay under 100 KB each.
func TestMemoryPerSpeaker(t *testing.T) {
	payloads := encodeMono(t, phrase(t, "weather"), 960, gopus.Voip, 64000, 10)[:100]
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := New(Config{})
	for ssrc := uint32(0); ssrc < defaultMaxSpeakers; ssrc++ {
		for i := range payloads {
			// Out of order in pairs, so slots fill across the window.
			seq := uint16(i ^ 1)
			r.Packet(nil, Packet{SSRC: ssrc, UserID: "u", Sequence: seq, Opus: payloads[seq], Arrival: t0.Add(time.Duration(i) * 20 * time.Millisecond)})
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / defaultMaxSpeakers
	t.Logf("%d speakers: %d bytes of heap each", defaultMaxSpeakers, per)
	if per > 100<<10 {
		t.Errorf("%d bytes per speaker", per)
	}
	runtime.KeepAlive(r)
}
