//go:build !amd64 || purego

package resample

var useAVX2 = false

func firAVX2(out *int16, ostride int, x *float32, xstride int, coef *float32, nvec int, n int) {
	panic("resample: no assembly kernel on this platform")
}

func copyAVX2(out *int16, ostride int, x *float32, n int) {
	panic("resample: no assembly kernel on this platform")
}

func widenAVX2(dst *float32, src *int16, n int) {
	panic("resample: no assembly kernel on this platform")
}
