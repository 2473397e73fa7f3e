package inbound

import (
	"slices"
	"testing"
	"time"

	"layeh.com/gopus"

	"github.com/livecord/livecord/audio/speech"
)

// benchPackets is continuous speech (every phrase, back to back) encoded as
// a Discord client sends it: 20 ms stereo Opus, VoIP mode at 64 kb/s (the
// default channel bitrate), in-band FEC on.
func benchPackets(b *testing.B) [][]byte {
	ps, err := speech.Phrases()
	if err != nil {
		b.Fatal(err)
	}
	var pcm []int16
	for _, p := range ps {
		pcm = slices.Concat(pcm, p.PCM)
	}
	return encodeMono(b, pcm, 960, gopus.Voip, 64000, 10)
}

// BenchmarkReceive measures one speaking user's cost per 20 ms frame: the
// Receiver's whole path (rate limit, jitter buffer, Opus decode, downmix,
// 48→16 kHz, chunking, onset detector, a Tick) against libopus decoding
// the same packets alone. The two alternate in blocks of 50 frames, so a
// busy machine slows both alike and the ratio (x_opus_decode) holds. It
// also reports the pipeline's time per frame and how many speakers one
// core sustains in real time at that cost (speakers_per_core = 20 ms /
// pipeline time per frame). ns/op covers both halves.
func BenchmarkReceive(b *testing.B) {
	payloads := benchPackets(b)
	r := New(Config{MaxTurn: 24 * time.Hour})
	dec, err := gopus.NewDecoder(48000, 2)
	if err != nil {
		b.Fatal(err)
	}
	var evs []Event
	var pipeline, opus time.Duration
	at := t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(50, b.N-i)
		start := time.Now()
		for k := i; k < i+n; k++ {
			at = at.Add(20 * time.Millisecond)
			evs = r.Packet(evs[:0], Packet{SSRC: 1, UserID: "u", Sequence: uint16(k), Timestamp: uint32(k * 960), Opus: payloads[k%len(payloads)], Arrival: at})
			evs = r.Tick(evs, at)
		}
		mid := time.Now()
		for k := i; k < i+n; k++ {
			if _, err := dec.Decode(payloads[k%len(payloads)], 960, false); err != nil {
				b.Fatal(err)
			}
		}
		pipeline += mid.Sub(start)
		opus += time.Since(mid)
		i += n
	}
	b.StopTimer()
	if st := r.Stats(); st.Frames != uint64(b.N) {
		b.Fatalf("decoded %d of %d frames: %+v", st.Frames, b.N, st)
	}
	perFrame := pipeline / time.Duration(b.N)
	b.ReportMetric(float64(perFrame.Nanoseconds()), "pipeline_ns/frame")
	b.ReportMetric(float64(opus.Nanoseconds())/float64(b.N), "opus_ns/frame")
	b.ReportMetric(float64(pipeline)/float64(opus), "x_opus_decode")
	b.ReportMetric(float64(20*time.Millisecond)/float64(perFrame), "speakers_per_core")
}

// BenchmarkOpusDecode is the reference alone, for the table.
func BenchmarkOpusDecode(b *testing.B) {
	payloads := benchPackets(b)
	dec, err := gopus.NewDecoder(48000, 2)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := dec.Decode(payloads[i%len(payloads)], 960, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOnsetDetector is the detector's share: one 20 ms chunk of
// speech at 16 kHz.
func BenchmarkOnsetDetector(b *testing.B) {
	p := phrase(b, "weather")
	x := make([]int16, len(p)/3)
	for i := range x {
		x[i] = p[3*i]
	}
	d := newOnsetDetector()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := (i * ChunkSamples) % (len(x) - ChunkSamples)
		d.feed(x[off : off+ChunkSamples])
		if off == 0 {
			d.reset()
		}
	}
}
