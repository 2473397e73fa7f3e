package ogg

import (
	"bytes"
	"testing"
)

// BenchmarkEncodeOpus encodes 10 s of 24 kHz mono audio to Ogg/Opus (the
// reply-attachment fallback) and reports how many times faster than real
// time that is.
func BenchmarkEncodeOpus(b *testing.B) {
	pcm := sine(24000, 240000, 220)
	var buf bytes.Buffer
	b.SetBytes(int64(len(pcm)))
	for b.Loop() {
		buf.Reset()
		if err := EncodeOpus(&buf, 24000, pcm); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(10/(b.Elapsed().Seconds()/float64(b.N)), "x-realtime")
	b.ReportMetric(float64(buf.Len()), "ogg-bytes")
}
