package inbound

import (
	"runtime"
	"testing"
	"time"

	"layeh.com/gopus"
)

// TestMemoryPerSpeaker: a speaker's state is bounded and small. 64
// speakers (the default cap) each fed two seconds of 64 kb/s speech, with
// slots of the reorder buffer in use, stay under 100 KB each and under four
// times the reference measured in the same run: a bare libopus stereo
// decoder, which every speaker needs anyway.
func TestMemoryPerSpeaker(t *testing.T) {
	heap := func() int64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	h0 := heap()
	decs := make([]*gopus.Decoder, defaultMaxSpeakers)
	for i := range decs {
		var err error
		if decs[i], err = gopus.NewDecoder(48000, 2); err != nil {
			t.Fatal(err)
		}
	}
	dec := (heap() - h0) / defaultMaxSpeakers
	runtime.KeepAlive(decs)
	decs = nil

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
	t.Logf("%d speakers: %d bytes of heap each, %.1f× a bare Opus decoder (%d bytes)", defaultMaxSpeakers, per, float64(per)/float64(dec), dec)
	if per > 100<<10 || per > 4*dec {
		t.Errorf("%d bytes per speaker (decoder alone %d)", per, dec)
	}
	runtime.KeepAlive(r)
}
