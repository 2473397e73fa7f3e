// Package resample converts streams of 16-bit PCM between the sample rates
// Discord and Gemini Live use (8, 12, 16, 24 and 48 kHz), one chunk at a time.
//
// The converter is a polyphase FIR whose prototype is a Kaiser-windowed sinc
// designed when the [Resampler] is built (see design.go for the parameters and
// why they were chosen). State carries across calls, so the output does not
// depend on how the input is chunked: feeding a reply one sample at a time, in
// 20 ms frames or all at once gives bit-identical samples. At the end of a turn
// [Resampler.Flush] emits the filter tail and leaves the stream ready for the
// next turn.
//
// For 24→48 kHz the passband 0–10 kHz is flat within ±0.05 dB, images of
// 0–10 kHz tones are more than 100 dB down and every other output sample is an
// exact copy of an input sample (the filter is half-band). For 48→16 kHz the
// passband is 0–6.67 kHz and nothing aliases into it by more than -100 dB.
// On amd64 with AVX2 and FMA the inner loops are in assembly; elsewhere (or
// with the purego build tag) portable Go computes the same filter.
// BENCHMARKS.md has the measured figures and the comparison with libsoxr.
package resample

import (
	"errors"
	"fmt"
	"slices"
)

// ErrUnsupported is returned by [New] for a rate pair or channel count the
// package does not handle.
var ErrUnsupported = errors.New("resample: unsupported conversion")

// blockFrames is how many input frames are converted to float32 at a time. It
// bounds the history buffer (no allocation after New) and keeps the working
// set in L1 cache.
const blockFrames = 512

// Resampler converts one interleaved int16 stream from one rate to another.
// Make one with [New]. It is not safe for concurrent use; each stream needs
// its own.
type Resampler struct {
	inRate, outRate, channels int
	f                         *filter

	// hist[c] holds channel c's input as float32: the last f.hist samples
	// already consumed followed by the current block, so the inner loops read
	// contiguous memory without wrapping.
	hist [][]float32
	fill int // valid samples in each hist[c]

	// Decimators keep their history deinterleaved instead, as
	// sub[c][σ][t] = x[t·M+σ] (x indexed like hist), so every strand of
	// taps M apart reads contiguous memory.
	sub [][][]float32

	// The next output needs phase p of the filter and has newest input
	// sample hist[c][q].
	p, q int

	pending  [2]int16 // a partial interleaved frame carried to the next call
	npending int
	fed      bool // input arrived since the last Reset
}

// New returns a Resampler converting channels interleaved channels (1 or 2)
// from inRate to outRate Hz. Rates must be among 8000, 12000, 16000, 24000 and
// 48000 (equal rates pass samples through unchanged).
func New(inRate, outRate, channels int) (*Resampler, error) {
	if !supportedRate(inRate) || !supportedRate(outRate) {
		return nil, fmt.Errorf("%w: %d Hz to %d Hz", ErrUnsupported, inRate, outRate)
	}
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("%w: %d channels", ErrUnsupported, channels)
	}
	f := design(inRate, outRate)
	r := &Resampler{inRate: inRate, outRate: outRate, channels: channels, f: f}
	if !f.decim {
		r.hist = make([][]float32, channels)
		for c := range r.hist {
			// 8 samples of slack after the block for the AVX2 kernel's
			// zero-padded taps.
			r.hist[c] = make([]float32, f.hist+blockFrames+8)
		}
	} else {
		r.sub = make([][][]float32, channels)
		for c := range r.sub {
			r.sub[c] = make([][]float32, f.m)
			for i := range r.sub[c] {
				r.sub[c][i] = make([]float32, (f.hist+blockFrames+f.m-1)/f.m+8)
			}
		}
	}
	r.Reset()
	return r, nil
}

func supportedRate(hz int) bool {
	switch hz {
	case 8000, 12000, 16000, 24000, 48000:
		return true
	}
	return false
}

// Reset discards all state (history, a pending partial frame) so the
// Resampler starts a new stream, as if just returned by [New].
func (r *Resampler) Reset() {
	for _, h := range r.hist {
		clear(h)
	}
	for _, sc := range r.sub {
		for _, s := range sc {
			clear(s)
		}
	}
	r.fill = r.f.hist
	r.p, r.q = 0, r.f.hist
	r.npending = 0
	r.fed = false
}

// Delay returns the group delay in output samples per channel: output sample
// Delay()+k is centred on input instant k·inRate/outRate. It is the same for
// every frequency (the filter has linear phase).
func (r *Resampler) Delay() int { return r.f.delay }

// OutLen returns the most int16 values a call to [Resampler.Process] can
// append for a src of n int16 values, whatever the stream's state. Callers
// size dst with it (plus [Resampler.FlushLen] at the end of a turn).
func (r *Resampler) OutLen(n int) int {
	if n <= 0 {
		return 0
	}
	frames := (n + r.channels - 1) / r.channels // a pending partial frame may complete
	return ceilDiv(frames*r.f.l, r.f.m) * r.channels
}

// FlushLen returns the most int16 values [Resampler.Flush] can append.
func (r *Resampler) FlushLen() int {
	return r.OutLen((r.f.taps - 1) * r.channels)
}

// Process converts src, interleaved int16 samples at the input rate, and
// appends the resulting interleaved samples at the output rate to dst,
// returning the extended slice. src need not hold whole frames: a trailing
// partial frame is kept for the next call. Output lags input by the filter
// delay ([Resampler.Delay]); [Resampler.Flush] drains it. Process does not
// allocate when cap(dst)-len(dst) >= OutLen(len(src)).
func (r *Resampler) Process(dst, src []int16) []int16 {
	ch := r.channels
	// One bound for the whole call: run never grows dst itself.
	dst = slices.Grow(dst, r.OutLen(len(src)))
	if r.npending > 0 {
		// Complete the partial frame left over by the previous call.
		for r.npending < ch && len(src) > 0 {
			r.pending[r.npending] = src[0]
			r.npending++
			src = src[1:]
		}
		if r.npending < ch {
			return dst
		}
		r.npending = 0
		dst = r.run(dst, r.pending[:ch], 1, false)
	}
	frames := len(src) / ch
	dst = r.run(dst, src[:frames*ch], frames, false)
	for _, s := range src[frames*ch:] {
		r.pending[r.npending] = s
		r.npending++
	}
	return dst
}

// Flush appends the rest of the stream to dst: every output sample that any
// input sample contributes to, including the filter's tail. A pending partial
// frame is dropped. The Resampler is then reset for the next stream. Flush
// appends nothing if no complete frame was processed since the last reset.
func (r *Resampler) Flush(dst []int16) []int16 {
	if !r.fed {
		r.Reset()
		return dst
	}
	// taps-1 zero frames push the last real sample through the whole filter.
	dst = slices.Grow(dst, r.FlushLen())
	dst = r.run(dst, nil, r.f.taps-1, true)
	r.Reset()
	return dst
}

// run feeds frames input frames from src (or zeros when zeros is set) through
// the filter, appending output to dst, which must have room for it.
func (r *Resampler) run(dst, src []int16, frames int, zeros bool) []int16 {
	ch := r.channels
	f := r.f
	if frames > 0 && !zeros {
		r.fed = true
	}
	for frames > 0 {
		n := min(frames, f.hist+blockFrames-r.fill)
		for c := 0; c < ch; c++ {
			r.load(c, src, n, zeros)
		}
		if !zeros {
			src = src[n*ch:]
		}
		frames -= n
		r.fill += n

		// Outputs whose newest input sample is now in the buffer:
		// k >= 0 with q + (p+k·M)/L < fill.
		avail := (r.fill-r.q)*f.l - r.p
		if avail <= 0 {
			r.shift()
			continue
		}
		count := ceilDiv(avail, f.m)
		base := len(dst)
		dst = dst[:base+count*ch]
		out := dst[base:]
		r.emit(out, r.p, r.q, count)
		pm := r.p + count*f.m
		r.p = pm % f.l
		r.q += pm / f.l
		r.shift()
	}
	return dst
}

// emit computes count outputs into out (interleaved), the first using
// phase p with newest input sample q.
func (r *Resampler) emit(out []int16, p, q, count int) {
	f, ch := r.f, r.channels
	if f.pair && ch == 1 && useAVX2 {
		// Mono 2× with a unit-tap branch: whole blocks of eight
		// (interpolated, copied) output pairs in one fused pass that
		// stores contiguously; the ends go the general way.
		head := p // an odd start is one copied sample before the first pair
		blocks := (count - head) / 16
		if blocks > 0 {
			r.emitGeneral(out, p, q, head)
			qp := q + p // the first pair's newest input
			fir, cp := &f.phases[0], &f.phases[1]
			x := r.hist[0]
			_ = out[head+16*blocks-1]
			_ = x[qp+fir.off+8*blocks-1+len(fir.vec)-1]
			_ = x[qp+cp.off+8*blocks-1]
			pairAVX2(&out[head], &x[qp+fir.off], &fir.vec[0], len(fir.vec)/8, &x[qp+cp.off], blocks)
			done := head + 16*blocks
			r.emitGeneral(out[done:], 0, qp+8*blocks, count-done)
			return
		}
	}
	r.emitGeneral(out, p, q, count)
}

// emitGeneral is emit for any filter. Outputs k, k+L, k+2L, … use the
// same phase, with newest input samples M apart: each phase runs over its
// outputs in one pass.
func (r *Resampler) emitGeneral(out []int16, p, q, count int) {
	f, ch := r.f, r.channels
	for i := 0; i < min(f.l, count); i++ {
		pm := p + i*f.m
		ph := &f.phases[pm%f.l]
		qi := q + pm/f.l
		n := (count - i + f.l - 1) / f.l
		for c := 0; c < ch; c++ {
			if f.decim {
				ph.runStrands(out[i*ch+c:], f.l*ch, r.sub[c], qi, f.m, n)
			} else {
				ph.run(out[i*ch+c:], f.l*ch, r.hist[c], qi, f.m, n)
			}
		}
	}
}

// load converts channel c of the next n frames of src (zeros if set) into
// the history at fill: into hist, or straight into a decimator's strands.
func (r *Resampler) load(c int, src []int16, n int, zeros bool) {
	ch := r.channels
	if !r.f.decim {
		h := r.hist[c][r.fill : r.fill+n]
		switch {
		case zeros:
			clear(h)
		case ch == 1 && useAVX2:
			widenAVX2(&h[0], &src[0], n)
		case ch == 2 && useAVX2 && n >= 8:
			if c == 1 {
				return // channel 0's call loaded both
			}
			blocks := n / 8
			_ = r.hist[1][r.fill+n-1]
			_ = src[2*n-1]
			deint2AVX2(&h[0], &r.hist[1][r.fill], &src[0], blocks)
			if n > 8*blocks {
				widenStrided(h[8*blocks:], src[16*blocks:], 2)
				widenStrided(r.hist[1][r.fill+8*blocks:r.fill+n], src[16*blocks+1:], 2)
			}
		default:
			widenStrided(h, src[c:], ch)
		}
		return
	}
	m := r.f.m
	sub := r.sub[c]
	if ch == 1 && useAVX2 && !zeros && (m == 2 || m == 3) {
		// Scalar up to a frame that lands on strand 0, vector blocks
		// of 8·M frames, then the scalar code below for the rest.
		head := min((m-r.fill%m)%m, n)
		for i := 0; i < head; i++ {
			sub[(r.fill+i)%m][(r.fill+i)/m] = float32(src[i])
		}
		blocks := (n - head) / (8 * m)
		if blocks > 0 {
			t := (r.fill + head) / m
			for _, s := range sub {
				_ = s[t+8*blocks-1]
			}
			_ = src[head+8*m*blocks-1]
			if m == 3 {
				deint3AVX2(&sub[0][t], &sub[1][t], &sub[2][t], &src[head], blocks)
			} else {
				deint2AVX2(&sub[0][t], &sub[1][t], &src[head], blocks)
			}
		}
		done := head + 8*m*blocks
		r.loadStrands(c, src[done:], r.fill+done, n-done, false)
		return
	}
	r.loadStrands(c, src, r.fill, n, zeros)
}

// loadStrands deals channel c of n frames of src (zeros if set), the first
// being input sample number at, to a decimator's strands.
func (r *Resampler) loadStrands(c int, src []int16, at, n int, zeros bool) {
	m, ch := r.f.m, r.channels
	for i, s := range r.sub[c] {
		first := (i - at%m + m) % m // first frame whose sample belongs in s
		if first >= n {
			continue
		}
		s = s[(at+first)/m : (at+first)/m+(n-first+m-1)/m]
		if zeros {
			clear(s)
			continue
		}
		widenStrided(s, src[first*ch+c:], m*ch)
	}
}

// widenStrided sets dst[j] = src[j·step]. A separate small function keeps
// the loop's variables in registers.
func widenStrided(dst []float32, src []int16, step int) {
	if len(dst) == 0 {
		return
	}
	_ = src[(len(dst)-1)*step]
	for j := range dst {
		dst[j] = float32(src[j*step])
	}
}

// shift moves the history the filter still needs to the front of the buffer.
func (r *Resampler) shift() {
	s := r.q - r.f.hist
	if r.f.decim {
		// Whole strides keep every strand on the same residue.
		s -= s % r.f.m
	}
	if s <= 0 {
		return
	}
	for c := range r.hist {
		copy(r.hist[c], r.hist[c][s:r.fill])
	}
	if r.f.decim {
		used := (r.fill + r.f.m - 1) / r.f.m
		for _, sc := range r.sub {
			for _, sub := range sc {
				copy(sub, sub[s/r.f.m:used])
			}
		}
	}
	r.fill -= s
	r.q -= s
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
