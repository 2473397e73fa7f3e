//go:build !amd64 || purego

package resample

var useAVX2 = false

func firAVX2(out *int16, ostride int, s *strandArg, ns int, xstride int, n int) {
	panic("resample: no assembly kernel on this platform")
}

func copyAVX2(out *int16, ostride int, x *float32, n int) {
	panic("resample: no assembly kernel on this platform")
}

func widenAVX2(dst *float32, src *int16, n int) {
	panic("resample: no assembly kernel on this platform")
}

func deint3AVX2(s0, s1, s2 *float32, src *int16, blocks int) {
	panic("resample: no assembly kernel on this platform")
}

func deint2AVX2(s0, s1 *float32, src *int16, blocks int) {
	panic("resample: no assembly kernel on this platform")
}

func pairAVX2(out *int16, x *float32, coef *float32, nvec int, cx *float32, blocks int) {
	panic("resample: no assembly kernel on this platform")
}
