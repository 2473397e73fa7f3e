//go:build !purego

package resample

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly kernel; tests switch it off to check the
// portable one too.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func firAVX2(out *int16, ostride int, s *strandArg, ns int, xstride int, n int)

//go:noescape
func copyAVX2(out *int16, ostride int, x *float32, n int)

//go:noescape
func widenAVX2(dst *float32, src *int16, n int)

//go:noescape
func deint3AVX2(s0, s1, s2 *float32, src *int16, blocks int)

//go:noescape
func deint2AVX2(s0, s1 *float32, src *int16, blocks int)

//go:noescape
func pairAVX2(out *int16, x *float32, coef *float32, nvec int, cx *float32, blocks int)
