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
// the same packets alone, measured in the same run. It reports the ratio
// (x_opus_decode) and how many speakers one core sustains in real time
// (speakers_per_core = 20 ms / cost per frame).
func BenchmarkReceive(b *testing.B) {
	payloads := benchPackets(b)
	r := New(Config{MaxTurn: 24 * time.Hour})
	var evs []Event
	at := t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at = at.Add(20 * time.Millisecond)
		evs = r.Packet(evs[:0], Packet{SSRC: 1, UserID: "u", Sequence: uint16(i), Timestamp: uint32(i * 960), Opus: payloads[i%len(payloads)], Arrival: at})
		evs = r.Tick(evs, at)
	}
	b.StopTimer()
	pipeline := b.Elapsed() / time.Duration(b.N)
	if st := r.Stats(); st.Frames != uint64(b.N) {
		b.Fatalf("decoded %d of %d frames: %+v", st.Frames, b.N, st)
	}

	// The reference: libopus alone on the same packets, as many of them.
	dec, err := gopus.NewDecoder(48000, 2)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := dec.Decode(payloads[i%len(payloads)], 960, false); err != nil {
			b.Fatal(err)
		}
	}
	opus := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(pipeline)/float64(opus), "x_opus_decode")
	b.ReportMetric(float64(20*time.Millisecond)/float64(pipeline), "speakers_per_core")
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
