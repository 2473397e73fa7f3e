//go:build !purego

#include "textflag.h"

// func firAVX2(out *int16, ostride int, s *strandArg, ns int, xstride int, n int)
//
// n outputs; output i is Σ over the ns strands of Σ_j coef[j]·x[i·xstride+j]
// over each strand's nvec·8 taps (zero padded), rounded to nearest even,
// saturated to int16 and stored at out[i·ostride]. Eight outputs are
// computed together so each coefficient load feeds eight FMAs and eight
// independent accumulators hide the FMA latency. Every output, in a block of
// eight or alone, is accumulated in the same order and reduced by the same
// tree, so results never depend on how outputs are grouped.
//
// strandArg is {x *float32; coef *float32; nvec int} (24 bytes). R14 and
// R15 are free in ABI0 code that touches no globals.
TEXT ·firAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ ostride+8(FP), R8
	SHLQ $1, R8
	MOVQ s+16(FP), DX
	MOVQ ns+24(FP), BX
	MOVQ xstride+32(FP), R9
	SHLQ $2, R9
	MOVQ n+40(FP), AX
	XORQ SI, SI              // byte offset of the current output along x

block8:
	CMPQ AX, $8
	JLT  tail
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ DX, R14
	MOVQ BX, R15

strand8:
	MOVQ 0(R14), R10
	ADDQ SI, R10             // output 0
	LEAQ (R10)(R9*2), R11
	ADDQ R9, R11             // output 3
	LEAQ (R11)(R9*2), R12
	ADDQ R9, R12             // output 6
	MOVQ 8(R14), R13
	MOVQ 16(R14), CX

loop8:
	VMOVUPS     (R13), Y8
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS (R10)(R9*1), Y8, Y1
	VFMADD231PS (R10)(R9*2), Y8, Y2
	VFMADD231PS (R11), Y8, Y3
	VFMADD231PS (R10)(R9*4), Y8, Y4
	VFMADD231PS (R11)(R9*2), Y8, Y5
	VFMADD231PS (R12), Y8, Y6
	VFMADD231PS (R11)(R9*4), Y8, Y7
	ADDQ        $32, R10
	ADDQ        $32, R11
	ADDQ        $32, R12
	ADDQ        $32, R13
	DECQ        CX
	JNZ         loop8
	ADDQ        $24, R14
	DECQ        R15
	JNZ         strand8

	// Horizontal sums: lane pairs, then quads, then the two 128-bit halves.
	VHADDPS    Y1, Y0, Y0
	VHADDPS    Y3, Y2, Y2
	VHADDPS    Y5, Y4, Y4
	VHADDPS    Y7, Y6, Y6
	VHADDPS    Y2, Y0, Y0
	VHADDPS    Y6, Y4, Y4
	VPERM2F128 $0x20, Y4, Y0, Y1
	VPERM2F128 $0x31, Y4, Y0, Y2
	VADDPS     Y2, Y1, Y1
	VCVTPS2DQ  Y1, Y1
	VEXTRACTF128 $1, Y1, X2
	VPACKSSDW  X2, X1, X1

	CMPQ R8, $2
	JNE  strided8
	VMOVDQU X1, (DI)
	ADDQ    $16, DI
	JMP     next8

strided8:
	VPEXTRW $0, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $1, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $2, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $3, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $4, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $5, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $6, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $7, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI

next8:
	LEAQ (SI)(R9*8), SI
	SUBQ $8, AX
	JMP  block8

tail:
	TESTQ AX, AX
	JZ    done
	VXORPS Y0, Y0, Y0
	MOVQ   DX, R14
	MOVQ   BX, R15

strand1:
	MOVQ 0(R14), R10
	ADDQ SI, R10
	MOVQ 8(R14), R13
	MOVQ 16(R14), CX

loop1:
	VMOVUPS     (R13), Y8
	VFMADD231PS (R10), Y8, Y0
	ADDQ        $32, R10
	ADDQ        $32, R13
	DECQ        CX
	JNZ         loop1
	ADDQ        $24, R14
	DECQ        R15
	JNZ         strand1

	VHADDPS      Y0, Y0, Y0
	VHADDPS      Y0, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VCVTPS2DQ    X0, X0
	VPACKSSDW    X0, X0, X0
	VPEXTRW      $0, X0, CX
	MOVW         CX, (DI)
	ADDQ         R8, DI
	ADDQ         R9, SI
	DECQ         AX
	JMP          tail

done:
	VZEROUPPER
	RET

// func copyAVX2(out *int16, ostride int, x *float32, n int)
//
// out[i·ostride] = int16(x[i]) for whole-valued x (the unit-tap branch of an
// integer-factor interpolator). Eight at a time, then singly.
TEXT ·copyAVX2(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ ostride+8(FP), R8
	SHLQ $1, R8
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), AX

copy8:
	CMPQ AX, $8
	JLT  copy1
	VCVTPS2DQ (SI), Y1
	VEXTRACTF128 $1, Y1, X2
	VPACKSSDW X2, X1, X1
	VPEXTRW $0, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $1, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $2, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $3, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $4, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $5, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $6, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	VPEXTRW $7, X1, CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	ADDQ    $32, SI
	SUBQ    $8, AX
	JMP     copy8

copy1:
	VZEROUPPER // no AVX-SSE transition penalty in the scalar tail

copy1loop:
	TESTQ AX, AX
	JZ    copydone
	CVTTSS2SL (SI), CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	ADDQ    $4, SI
	DECQ    AX
	JMP     copy1loop

copydone:
	RET

// func widenAVX2(dst *float32, src *int16, n int)
//
// dst[i] = float32(src[i]), sixteen at a time, then singly.
TEXT ·widenAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), AX

widen16:
	CMPQ AX, $16
	JLT  widen1
	VPMOVSXWD (SI), Y0
	VPMOVSXWD 16(SI), Y1
	VCVTDQ2PS Y0, Y0
	VCVTDQ2PS Y1, Y1
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	SUBQ      $16, AX
	JMP       widen16

widen1:
	VZEROUPPER // no AVX-SSE transition penalty in the scalar tail

widen1loop:
	TESTQ AX, AX
	JZ    widendone
	MOVWQSX  (SI), CX
	CVTSL2SS CX, X0
	MOVSS    X0, (DI)
	ADDQ     $2, SI
	ADDQ     $4, DI
	DECQ     AX
	JMP      widen1loop

widendone:
	RET

// Lane orders that gather every third float after the blends in deint3AVX2.
DATA perm3<>+0(SB)/4, $0
DATA perm3<>+4(SB)/4, $3
DATA perm3<>+8(SB)/4, $6
DATA perm3<>+12(SB)/4, $1
DATA perm3<>+16(SB)/4, $4
DATA perm3<>+20(SB)/4, $7
DATA perm3<>+24(SB)/4, $2
DATA perm3<>+28(SB)/4, $5
DATA perm3<>+32(SB)/4, $1
DATA perm3<>+36(SB)/4, $4
DATA perm3<>+40(SB)/4, $7
DATA perm3<>+44(SB)/4, $2
DATA perm3<>+48(SB)/4, $5
DATA perm3<>+52(SB)/4, $0
DATA perm3<>+56(SB)/4, $3
DATA perm3<>+60(SB)/4, $6
DATA perm3<>+64(SB)/4, $2
DATA perm3<>+68(SB)/4, $5
DATA perm3<>+72(SB)/4, $0
DATA perm3<>+76(SB)/4, $3
DATA perm3<>+80(SB)/4, $6
DATA perm3<>+84(SB)/4, $1
DATA perm3<>+88(SB)/4, $4
DATA perm3<>+92(SB)/4, $7
GLOBL perm3<>(SB), RODATA|NOPTR, $96

// func deint3AVX2(s0, s1, s2 *float32, src *int16, blocks int)
//
// Widens 24·blocks int16 samples to float32 and deals them round-robin to
// the three strands: s_σ[j] = src[3j+σ].
TEXT ·deint3AVX2(SB), NOSPLIT, $0-40
	MOVQ s0+0(FP), DI
	MOVQ s1+8(FP), R8
	MOVQ s2+16(FP), R9
	MOVQ src+24(FP), SI
	MOVQ blocks+32(FP), CX
	TESTQ CX, CX
	JZ    deint3done
	VMOVDQU perm3<>+0(SB), Y10
	VMOVDQU perm3<>+32(SB), Y11
	VMOVDQU perm3<>+64(SB), Y12

deint3loop:
	VPMOVSXWD (SI), Y0       // x0..x7
	VPMOVSXWD 16(SI), Y1     // x8..x15
	VPMOVSXWD 32(SI), Y2     // x16..x23
	VCVTDQ2PS Y0, Y0
	VCVTDQ2PS Y1, Y1
	VCVTDQ2PS Y2, Y2

	// strand 0: lanes {1,4,7} from x8.., {2,5} from x16..
	VBLENDPS $0x92, Y1, Y0, Y3
	VBLENDPS $0x24, Y2, Y3, Y3
	VPERMPS  Y3, Y10, Y3
	VMOVUPS  Y3, (DI)

	// strand 1: lanes {2,5} from x8.., {0,3,6} from x16..
	VBLENDPS $0x24, Y1, Y0, Y4
	VBLENDPS $0x49, Y2, Y4, Y4
	VPERMPS  Y4, Y11, Y4
	VMOVUPS  Y4, (R8)

	// strand 2: lanes {0,3,6} from x8.., {1,4,7} from x16..
	VBLENDPS $0x49, Y1, Y0, Y5
	VBLENDPS $0x92, Y2, Y5, Y5
	VPERMPS  Y5, Y12, Y5
	VMOVUPS  Y5, (R9)

	ADDQ $48, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ  deint3loop

deint3done:
	VZEROUPPER
	RET

// func deint2AVX2(s0, s1 *float32, src *int16, blocks int)
//
// Widens 16·blocks int16 samples to float32: s0 gets the even ones, s1 the
// odd ones.
TEXT ·deint2AVX2(SB), NOSPLIT, $0-32
	MOVQ s0+0(FP), DI
	MOVQ s1+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ blocks+24(FP), CX
	TESTQ CX, CX
	JZ    deint2done

deint2loop:
	VPMOVSXWD (SI), Y0       // x0..x7
	VPMOVSXWD 16(SI), Y1     // x8..x15
	VCVTDQ2PS Y0, Y0
	VCVTDQ2PS Y1, Y1
	VSHUFPS   $0x88, Y1, Y0, Y2 // x0 x2 x8 x10 | x4 x6 x12 x14
	VSHUFPS   $0xDD, Y1, Y0, Y3 // x1 x3 x9 x11 | x5 x7 x13 x15
	VPERMPD   $0xD8, Y2, Y2
	VPERMPD   $0xD8, Y3, Y3
	VMOVUPS   Y2, (DI)
	VMOVUPS   Y3, (R8)
	ADDQ      $32, SI
	ADDQ      $32, DI
	ADDQ      $32, R8
	DECQ      CX
	JNZ       deint2loop

deint2done:
	VZEROUPPER
	RET

// func pairAVX2(out *int16, x *float32, coef *float32, nvec int, cx *float32, blocks int)
//
// Mono 2× interpolation with a unit-tap branch, 8 output pairs per block:
// out[2i] is the FIR output whose window starts at x[i] (computed exactly as
// firAVX2 computes it) and out[2i+1] = int16(cx[i]), stored contiguously.
TEXT ·pairAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ coef+16(FP), DX
	MOVQ nvec+24(FP), BX
	MOVQ cx+32(FP), R14
	MOVQ blocks+40(FP), AX
	MOVQ $4, R9
	TESTQ AX, AX
	JZ    pairdone

pairblock:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ SI, R10             // output 0
	LEAQ 12(SI), R11         // output 3
	LEAQ 24(SI), R12         // output 6
	MOVQ DX, R13
	MOVQ BX, CX

pairloop:
	VMOVUPS     (R13), Y8
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS (R10)(R9*1), Y8, Y1
	VFMADD231PS (R10)(R9*2), Y8, Y2
	VFMADD231PS (R11), Y8, Y3
	VFMADD231PS (R10)(R9*4), Y8, Y4
	VFMADD231PS (R11)(R9*2), Y8, Y5
	VFMADD231PS (R12), Y8, Y6
	VFMADD231PS (R11)(R9*4), Y8, Y7
	ADDQ        $32, R10
	ADDQ        $32, R11
	ADDQ        $32, R12
	ADDQ        $32, R13
	DECQ        CX
	JNZ         pairloop

	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y5, Y4, Y4
	VHADDPS      Y7, Y6, Y6
	VHADDPS      Y2, Y0, Y0
	VHADDPS      Y6, Y4, Y4
	VPERM2F128   $0x20, Y4, Y0, Y1
	VPERM2F128   $0x31, Y4, Y0, Y2
	VADDPS       Y2, Y1, Y1
	VCVTPS2DQ    Y1, Y1
	VEXTRACTF128 $1, Y1, X2
	VPACKSSDW    X2, X1, X1  // 8 interpolated samples

	VCVTPS2DQ    (R14), Y2
	VEXTRACTF128 $1, Y2, X3
	VPACKSSDW    X3, X2, X2  // 8 copied samples

	VPUNPCKLWD X2, X1, X3
	VPUNPCKHWD X2, X1, X4
	VMOVDQU    X3, (DI)
	VMOVDQU    X4, 16(DI)

	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R14
	DECQ AX
	JNZ  pairblock

pairdone:
	VZEROUPPER
	RET
