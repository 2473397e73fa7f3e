package livetest

import (
	"math"
	"time"
)

// envelopeStep is the hop of the loudness envelopes compared by
// EnvelopeCorrelation: fine enough to resolve syllables (~150 ms), coarse
// enough to ignore waveform changes from resampling and lossy codecs.
const envelopeStep = 10 * time.Millisecond

// Envelope returns the RMS loudness of pcm (mono, at rate Hz) in
// consecutive 10 ms windows.
func Envelope(pcm []int16, rate int) []float64 {
	n := int(float64(rate) * envelopeStep.Seconds())
	if n <= 0 {
		return nil
	}
	out := make([]float64, 0, len(pcm)/n)
	for i := 0; i+n <= len(pcm); i += n {
		var sum float64
		for _, v := range pcm[i : i+n] {
			sum += float64(v) * float64(v)
		}
		out = append(out, math.Sqrt(sum/float64(n)))
	}
	return out
}

// EnvelopeCorrelation says how much got sounds like sent, for tests that
// pass the emulator's voice through resampling, Opus and the network: the
// Pearson correlation of their 10 ms loudness envelopes at the best
// alignment within maxLag (codec and resampler delays; got may also start
// late). 1 is identical phrasing, around 0 unrelated audio. Pass mono
// samples; downmix stereo first.
func EnvelopeCorrelation(sent []int16, sentRate int, got []int16, gotRate int, maxLag time.Duration) float64 {
	a, b := Envelope(sent, sentRate), Envelope(got, gotRate)
	lags := int(maxLag / envelopeStep)
	best := -1.0
	for lag := -lags; lag <= lags; lag++ {
		if c, ok := pearson(a, b, lag); ok && c > best {
			best = c
		}
	}
	return best
}

// pearson correlates a[i] with b[i+lag] over their overlap; false when the
// overlap is under a second or flat.
func pearson(a, b []float64, lag int) (float64, bool) {
	lo, hi := max(0, -lag), min(len(a), len(b)-lag)
	n := hi - lo
	if n < int(time.Second/envelopeStep) {
		return 0, false
	}
	var sa, sb float64
	for i := lo; i < hi; i++ {
		sa += a[i]
		sb += b[i+lag]
	}
	ma, mb := sa/float64(n), sb/float64(n)
	var cov, va, vb float64
	for i := lo; i < hi; i++ {
		da, db := a[i]-ma, b[i+lag]-mb
		cov += da * db
		va += da * da
		vb += db * db
	}
	if va == 0 || vb == 0 {
		return 0, false
	}
	return cov / math.Sqrt(va*vb), true
}
