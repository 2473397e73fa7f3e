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
// exact copy of an input sample (the filter is half-band). BENCHMARKS.md has the
// measured figures and the comparison with libsoxr.
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
// It is not safe for concurrent use; each stream needs its own.
type Resampler struct {
	inRate, outRate, channels int
	f                         *filter

	// hist[c] holds channel c's input as float32: the last f.hist samples
	// already consumed followed by the current block, so the inner loops read
	// contiguous memory without wrapping.
	hist [][]float32
	fill int // valid samples in each hist[c]

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
	r.hist = make([][]float32, channels)
	for c := range r.hist {
		// 8 samples of slack after the block for the AVX2 kernel's
		// zero-padded taps.
		r.hist[c] = make([]float32, f.hist+blockFrames+8)
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
	dst = r.run(dst, nil, r.f.taps-1, true)
	r.Reset()
	return dst
}

// run feeds frames input frames from src (or zeros when zeros is set) through
// the filter, appending output to dst.
func (r *Resampler) run(dst, src []int16, frames int, zeros bool) []int16 {
	ch := r.channels
	f := r.f
	if frames > 0 && !zeros {
		r.fed = true
	}
	dst = slices.Grow(dst, r.OutLen(frames*ch))
	for frames > 0 {
		n := min(frames, f.hist+blockFrames-r.fill)
		for c := 0; c < ch; c++ {
			h := r.hist[c][r.fill : r.fill+n]
			if zeros {
				clear(h)
				continue
			}
			if ch == 1 && useAVX2 {
				widenAVX2(&h[0], &src[0], n)
				continue
			}
			s := src[c:]
			for i := range h {
				h[i] = float32(s[i*ch])
			}
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
		// Outputs k, k+L, k+2L, ... use the same phase, with newest input
		// samples M apart: run each phase over its outputs in one pass.
		for i := 0; i < min(f.l, count); i++ {
			pm := r.p + i*f.m
			ph := &f.phases[pm%f.l]
			q := r.q + pm/f.l
			n := (count - i + f.l - 1) / f.l
			for c := 0; c < ch; c++ {
				ph.run(out[i*ch+c:], f.l*ch, r.hist[c], q, f.m, n)
			}
		}
		pm := r.p + count*f.m
		r.p = pm % f.l
		r.q += pm / f.l
		r.shift()
	}
	return dst
}

// shift moves the history the filter still needs to the front of the buffer.
func (r *Resampler) shift() {
	s := r.q - r.f.hist
	if s <= 0 {
		return
	}
	for c := range r.hist {
		copy(r.hist[c], r.hist[c][s:r.fill])
	}
	r.fill -= s
	r.q -= s
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
