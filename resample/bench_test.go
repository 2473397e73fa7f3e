package resample

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkProcess converts 10 s of noise in 20 ms chunks (the voice path's
// granularity) plus a Flush, and reports how many times faster than real
// time that is on one core. The soxr comparison lives in soxrbench.
func BenchmarkProcess(b *testing.B) {
	for _, c := range []struct{ in, out, ch int }{
		{24000, 48000, 1}, {24000, 48000, 2}, {48000, 16000, 1}, {48000, 16000, 2}, {16000, 48000, 1},
	} {
		b.Run(fmt.Sprintf("%dto%d-ch%d", c.in/1000, c.out/1000, c.ch), func(b *testing.B) {
			benchStream(b, c.in, c.out, c.ch)
		})
	}
}

// benchStream converts 10 s of in Hz audio to out Hz per iteration.
func benchStream(b *testing.B, in, out, ch int) {
	const seconds = 10
	x := noise(rand.New(rand.NewPCG(1, 2)), in*seconds*ch)
	r := mustNew(b, in, out, ch)
	chunk := in / 50 * ch
	dst := make([]int16, 0, r.OutLen(len(x))+r.FlushLen())
	b.SetBytes(int64(len(x) * 2))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = dst[:0]
		for j := 0; j < len(x); j += chunk {
			dst = r.Process(dst, x[j:min(j+chunk, len(x))])
		}
		dst = r.Flush(dst)
	}
	perRun := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(seconds*float64(time.Second)/float64(perRun), "x_realtime")
}
