package resample

// Arithmetic: samples are widened to float32 (exact for int16) and
// coefficients stored as float32. float32's 24-bit mantissa puts rounding
// error near -140 dB, under the int16 floor and the 115 dB design, while
// integer coefficients would need Q30 and 64-bit accumulators to get there;
// float32 also lets one AVX2 FMA do eight taps. Output is rounded to
// nearest (ties to even) and saturated to int16.
//
// Determinism: an output's value depends only on the input, never on which
// call or batch computed it, because each kernel computes every output by
// one fixed sequence of operations (the same accumulation order and the same
// final reduction tree whether it is computed with seven neighbours or
// alone). Zero-padded taps read finite stale samples, and 0·x adds an exact
// zero, so what lies past a window cannot change a result either.

type phaseKind uint8

const (
	kindCopy phaseKind = iota // one unit tap: output = an input sample
	kindSym                   // symmetric taps: fold pairs before multiplying
	kindGeneral
)

// phase is one polyphase branch: y = Σ_i coef[i]·x[q+off+i] for the output
// whose newest input sample is x[q].
type phase struct {
	coef []float32
	vec  []float32 // coef zero-padded to a multiple of 8
	half []float32 // kindSym: the first ⌊len/2⌋ taps, zero-padded likewise
	mid  float32   // kindSym with an odd length: the middle tap
	off  int
	kind phaseKind

	// A decimator's single branch split by tap index mod M with the zero
	// taps dropped (see design); nil otherwise.
	strands []strand
}

// strand is the taps coef[at], coef[at+M], coef[at+2M], … of a decimator's
// branch. They read every M-th input sample, which the deinterleaved
// history holds contiguously.
type strand struct {
	coef []float32
	vec  []float32
	at   int
}

// maxStrands bounds the strands of any decimator (M ≤ 6).
const maxStrands = 6

// strandArg is one strand as the assembly kernel reads it.
type strandArg struct {
	x    *float32 // first tap's input for the first output
	coef *float32 // zero-padded to nvec·8
	nvec int
}

func padded(coef []float32) []float32 {
	vec := make([]float32, (len(coef)+7)/8*8)
	copy(vec, coef)
	return vec
}

func newPhase(coef []float32, off int) phase {
	ph := phase{coef: coef, vec: padded(coef), off: off, kind: kindGeneral}
	switch {
	case len(coef) == 1 && coef[0] == 1:
		ph.kind = kindCopy
	case isSymmetric(coef) && len(coef) >= 16:
		ph.kind = kindSym
		ph.half = padded(coef[:len(coef)/2])
		if len(coef)%2 == 1 {
			ph.mid = coef[len(coef)/2]
		}
	}
	return ph
}

// split divides the branch into strands of taps M apart, dropping zero taps:
// the prototype is a Nyquist-M filter, so every M-th tap from the centre is
// zero and the centre's strand is a single tap. For 48→16 kHz that removes
// a third of the multiplications; for 48→24 kHz, half (half-band).
func (ph *phase) split(m int) {
	for at := 0; at < m && at < len(ph.coef); at++ {
		var taps []float32
		for i := at; i < len(ph.coef); i += m {
			taps = append(taps, ph.coef[i])
		}
		lo, hi := 0, len(taps)
		for lo < hi && taps[lo] == 0 {
			lo++
		}
		for hi > lo && taps[hi-1] == 0 {
			hi--
		}
		if lo == hi {
			continue
		}
		c := taps[lo:hi]
		ph.strands = append(ph.strands, strand{coef: c, vec: padded(c), at: at + lo*m})
	}
}

func isSymmetric(c []float32) bool {
	for i, j := 0, len(c)-1; i < j; i, j = i+1, j-1 {
		if c[i] != c[j] {
			return false
		}
	}
	return true
}

// run computes n outputs of this branch whose newest inputs are x[q],
// x[q+xstride], … and stores them at out[0], out[ostride], ….
//
// Every output is computed by the same sequence of float32 operations
// whatever n and q are, which is what makes the stream bit-identical under
// any chunking.
func (ph *phase) run(out []int16, ostride int, x []float32, q, xstride, n int) {
	start := q + ph.off
	k := len(ph.coef)
	if n <= 0 {
		return
	}
	if useAVX2 && ph.kind == kindCopy && xstride == 1 {
		_ = out[(n-1)*ostride]
		_ = x[start+n-1]
		copyAVX2(&out[0], ostride, &x[start], n)
		return
	}
	if useAVX2 && ph.kind != kindCopy {
		// Bounds the kernel relies on; the padded taps read up to 7
		// samples past the window, which the buffer's slack provides.
		_ = out[(n-1)*ostride]
		_ = x[start+(n-1)*xstride+len(ph.vec)-1]
		arg := [1]strandArg{{x: &x[start], coef: &ph.vec[0], nvec: len(ph.vec) / 8}}
		firAVX2(&out[0], ostride, &arg[0], 1, xstride, n)
		return
	}
	switch ph.kind {
	case kindCopy:
		for i := 0; i < n; i++ {
			out[i*ostride] = int16(x[start+i*xstride]) // already an exact integer
		}
	case kindSym:
		for i := 0; i < n; i++ {
			s := start + i*xstride
			out[i*ostride] = toInt16(dotSym(ph.half, ph.mid, x[s:s+k], k))
		}
	default:
		for i := 0; i < n; i++ {
			s := start + i*xstride
			out[i*ostride] = toInt16(dot(ph.vec, x[s:s+len(ph.vec)]))
		}
	}
}

// runStrands computes n outputs of a decimator's branch from the
// deinterleaved history sub (sub[σ][t] = x[t·M+σ]) for outputs whose newest
// inputs are x[q], x[q+M], …. Successive outputs move one sample along
// every strand.
func (ph *phase) runStrands(out []int16, ostride int, sub [][]float32, q, m, n int) {
	if n <= 0 {
		return
	}
	start := q + ph.off
	if useAVX2 {
		var args [maxStrands]strandArg
		_ = out[(n-1)*ostride]
		for i, s := range ph.strands {
			x := sub[(start+s.at)%m][(start+s.at)/m:]
			_ = x[n-1+len(s.vec)-1]
			args[i] = strandArg{x: &x[0], coef: &s.vec[0], nvec: len(s.vec) / 8}
		}
		firAVX2(&out[0], ostride, &args[0], len(ph.strands), 1, n)
		return
	}
	for i := 0; i < n; i++ {
		var y float32
		for _, s := range ph.strands {
			t := (start+s.at)/m + i
			y += dot(s.vec, sub[(start+s.at)%m][t:t+len(s.vec)])
		}
		out[i*ostride] = toInt16(y)
	}
}

// dot returns Σ c[i]·x[i] for len(c) a multiple of 8 (zero-padded taps)
// with eight partial sums, enough independent dependency chains to hide
// the floating-point add latency, combined in a fixed order. The loop
// re-slices instead of indexing so the compiler drops bounds checks.
func dot(c, x []float32) float32 {
	x = x[:len(c)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	for len(c) >= 8 && len(x) >= 8 {
		s0 += float32(c[0] * x[0])
		s1 += float32(c[1] * x[1])
		s2 += float32(c[2] * x[2])
		s3 += float32(c[3] * x[3])
		s4 += float32(c[4] * x[4])
		s5 += float32(c[5] * x[5])
		s6 += float32(c[6] * x[6])
		s7 += float32(c[7] * x[7])
		c, x = c[8:], x[8:]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// dotSym is dot for a symmetric filter of k taps given its first ⌊k/2⌋
// taps h (zero-padded to a multiple of 8) and, for odd k, its middle tap
// midc: the two inputs sharing a coefficient are added first, halving the
// multiplications. x must hold k samples.
func dotSym(h []float32, midc float32, x []float32, k int) float32 {
	x = x[:k]
	mid := float32(midc * x[k/2]) // zero for even k (midc is 0)
	// Padded pairs read inside the window (len(h) < k) with a zero
	// coefficient, so they add exact zeros.
	lo, hi := x[:len(h)], x[k-len(h):]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	for len(h) >= 8 && len(lo) >= 8 && len(hi) >= 8 {
		n := len(hi)
		s0 += float32(h[0] * (lo[0] + hi[n-1]))
		s1 += float32(h[1] * (lo[1] + hi[n-2]))
		s2 += float32(h[2] * (lo[2] + hi[n-3]))
		s3 += float32(h[3] * (lo[3] + hi[n-4]))
		s4 += float32(h[4] * (lo[4] + hi[n-5]))
		s5 += float32(h[5] * (lo[5] + hi[n-6]))
		s6 += float32(h[6] * (lo[6] + hi[n-7]))
		s7 += float32(h[7] * (lo[7] + hi[n-8]))
		h, lo, hi = h[8:], lo[8:], hi[:n-8]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) + mid
}

// toInt16 rounds to the nearest integer (ties to even) and saturates.
func toInt16(v float32) int16 {
	if v >= 32767 {
		return 32767
	}
	if v <= -32768 {
		return -32768
	}
	// Adding 1.5·2^23 pushes the fraction bits out of the float32 mantissa,
	// so the FPU's round-to-nearest-even does the rounding.
	const magic = 1<<23 + 1<<22
	return int16(int32((v + magic) - magic))
}
