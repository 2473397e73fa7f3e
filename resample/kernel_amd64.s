//go:build !purego

#include "textflag.h"

// func firAVX2(out *int16, ostride int, x *float32, xstride int, coef *float32, nvec int, n int)
//
// n outputs; output i is Σ_j coef[j]·x[i·xstride+j] over nvec·8 taps (zero
// padded), rounded to nearest even, saturated to int16 and stored at
// out[i·ostride]. Eight outputs are computed together so each coefficient
// load feeds eight FMAs and eight independent accumulators hide the FMA
// latency. Every output, in a block of eight or alone, is reduced by the
// same tree, so results never depend on how outputs are grouped.
TEXT ·firAVX2(SB), NOSPLIT, $0-56
	MOVQ out+0(FP), DI
	MOVQ ostride+8(FP), R8
	SHLQ $1, R8
	MOVQ x+16(FP), SI
	MOVQ xstride+24(FP), R9
	SHLQ $2, R9
	MOVQ coef+32(FP), DX
	MOVQ nvec+40(FP), BX
	MOVQ n+48(FP), AX

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
	MOVQ SI, R10             // output 0
	LEAQ (SI)(R9*2), R11
	ADDQ R9, R11             // output 3
	LEAQ (R11)(R9*2), R12
	ADDQ R9, R12             // output 6
	MOVQ DX, R13
	MOVQ BX, CX

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
	MOVQ   SI, R10
	MOVQ   DX, R13
	MOVQ   BX, CX

loop1:
	VMOVUPS     (R13), Y8
	VFMADD231PS (R10), Y8, Y0
	ADDQ        $32, R10
	ADDQ        $32, R13
	DECQ        CX
	JNZ         loop1

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
	TESTQ AX, AX
	JZ    copydone
	CVTTSS2SL (SI), CX
	MOVW    CX, (DI)
	ADDQ    R8, DI
	ADDQ    $4, SI
	DECQ    AX
	JMP     copy1

copydone:
	VZEROUPPER
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
	TESTQ AX, AX
	JZ    widendone
	MOVWQSX  (SI), CX
	CVTSL2SS CX, X0
	MOVSS    X0, (DI)
	ADDQ     $2, SI
	ADDQ     $4, DI
	DECQ     AX
	JMP      widen1

widendone:
	VZEROUPPER
	RET
