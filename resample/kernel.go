package resample

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
	vec  []float32 // coef zero-padded to a multiple of 8 for the AVX2 kernel
	off  int
	kind phaseKind
}

func newPhase(coef []float32, off int) phase {
	vec := make([]float32, (len(coef)+7)/8*8)
	copy(vec, coef)
	ph := phase{coef: coef, vec: vec, off: off, kind: kindGeneral}
	switch {
	case len(coef) == 1 && coef[0] == 1:
		ph.kind = kindCopy
	case isSymmetric(coef):
		ph.kind = kindSym
	}
	return ph
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
		firAVX2(&out[0], ostride, &x[start], xstride, &ph.vec[0], len(ph.vec)/8, n)
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
			out[i*ostride] = toInt16(dotSym(ph.coef, x[s:s+k]))
		}
	default:
		for i := 0; i < n; i++ {
			s := start + i*xstride
			out[i*ostride] = toInt16(dot(ph.coef, x[s:s+k]))
		}
	}
}

// dot returns Σ c[i]·x[i] with four partial sums (independent dependency
// chains) combined in a fixed order.
func dot(c, x []float32) float32 {
	x = x[:len(c)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(c); i += 4 {
		s0 += float32(c[i] * x[i])
		s1 += float32(c[i+1] * x[i+1])
		s2 += float32(c[i+2] * x[i+2])
		s3 += float32(c[i+3] * x[i+3])
	}
	for ; i < len(c); i++ {
		s0 += float32(c[i] * x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// dotSym is dot for symmetric c: pairs of inputs sharing a coefficient are
// added first, halving the multiplications.
func dotSym(c, x []float32) float32 {
	k := len(c)
	x = x[:k]
	half := k / 2
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= half; i += 4 {
		s0 += float32(c[i] * (x[i] + x[k-1-i]))
		s1 += float32(c[i+1] * (x[i+1] + x[k-2-i]))
		s2 += float32(c[i+2] * (x[i+2] + x[k-3-i]))
		s3 += float32(c[i+3] * (x[i+3] + x[k-4-i]))
	}
	for ; i < half; i++ {
		s0 += float32(c[i] * (x[i] + x[k-1-i]))
	}
	if k%2 == 1 {
		s1 += float32(c[half] * x[half])
	}
	return (s0 + s1) + (s2 + s3)
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
