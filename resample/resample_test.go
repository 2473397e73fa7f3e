package resample

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/livecord/livecord/resample/internal/measure"
)

var rates = []int{8000, 12000, 16000, 24000, 48000}

// eachPair runs fn for every supported rate pair and channel count.
func eachPair(t *testing.T, fn func(t *testing.T, in, out, ch int)) {
	for _, in := range rates {
		for _, out := range rates {
			for ch := 1; ch <= 2; ch++ {
				t.Run(fmt.Sprintf("%d-%d-ch%d", in, out, ch), func(t *testing.T) { fn(t, in, out, ch) })
			}
		}
	}
}

// withKernels runs fn with the assembly kernel (when the CPU has it) and
// with the portable Go one.
func withKernels(t *testing.T, fn func(t *testing.T)) {
	avx := useAVX2
	t.Cleanup(func() { useAVX2 = avx })
	if avx {
		t.Run("avx2", fn)
	}
	useAVX2 = false
	t.Run("go", fn)
	useAVX2 = avx
}

func mustNew(t testing.TB, in, out, ch int) *Resampler {
	t.Helper()
	r, err := New(in, out, ch)
	if err != nil {
		t.Fatalf("New(%d, %d, %d): %v", in, out, ch, err)
	}
	return r
}

// whole converts src in one call plus Flush.
func whole(r *Resampler, src []int16) []int16 {
	return r.Flush(r.Process(nil, src))
}

// noise is random int16 audio with full-scale spikes and bursts of a
// full-scale square wave, whose overshoot exercises saturation at any ratio.
func noise(rng *rand.Rand, n int) []int16 {
	x := make([]int16, n)
	for i := 0; i < n; i++ {
		switch rng.IntN(300) {
		case 0, 1, 2:
			x[i] = 32767
		case 3, 4, 5:
			x[i] = -32768
		case 6:
			for j := 0; j < 80 && i < n; j, i = j+1, i+1 {
				x[i] = int16(32767 - 65535*(j/10%2))
			}
		default:
			x[i] = int16(rng.IntN(40000) - 20000)
		}
	}
	return x
}

func TestNewRejectsUnsupported(t *testing.T) {
	for _, c := range []struct{ in, out, ch int }{
		{44100, 48000, 1}, {24000, 22050, 1}, {24000, 48000, 0}, {24000, 48000, 3}, {0, 48000, 1},
	} {
		if _, err := New(c.in, c.out, c.ch); !errors.Is(err, ErrUnsupported) {
			t.Errorf("New(%d, %d, %d) = %v, want ErrUnsupported", c.in, c.out, c.ch, err)
		}
	}
}

// reference computes output k of the stream straight from the polyphase
// definition in float64, with zeros before the first input sample:
// y[k] = Σ_i coef_p[i]·x[q+off_p+i], p = kM mod L, q = ⌊kM/L⌋. It shares
// only the coefficients with Resampler, not the buffering.
func reference(f *filter, x []int16, ch, c, k int) float64 {
	p, q := k*f.m%f.l, k*f.m/f.l
	ph := f.phases[p]
	var y float64
	for i, co := range ph.coef {
		j := q + ph.off + i
		if j >= 0 && j < len(x)/ch {
			y += float64(co) * float64(x[j*ch+c])
		}
	}
	return y
}

func clampRound(y float64) int16 {
	return int16(math.Max(-32768, math.Min(32767, math.RoundToEven(y))))
}

// The streaming output equals the direct convolution (rounded and
// saturated) to within one LSB of float32 accumulation error, for every
// rate pair, both kernels and both channel counts, including the flushed
// tail and saturated samples.
func TestMatchesDirectConvolution(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		eachPair(t, func(t *testing.T, in, out, ch int) {
			rng := rand.New(rand.NewPCG(uint64(in), uint64(out*ch)))
			x := noise(rng, 3000*ch)
			for i := 1000 * ch; i < 1200*ch; i++ {
				x[i] = int16(32767 - 65535*(i/ch/12%2)) // a burst that overshoots at any ratio
			}
			r := mustNew(t, in, out, ch)
			y := whole(r, x)
			frames := len(x) / ch
			// Every output any input touches: q-K+1 <= frames-1.
			wantFrames := ceilDiv((frames+r.f.taps-1)*r.f.l, r.f.m)
			if len(y) != wantFrames*ch {
				t.Fatalf("got %d samples, want %d", len(y), wantFrames*ch)
			}
			exact, clipped := 0, 0
			for k := 0; k < len(y)/ch; k++ {
				for c := 0; c < ch; c++ {
					ref := reference(r.f, x, ch, c, k)
					want := clampRound(ref)
					got := y[k*ch+c]
					if d := int(got) - int(want); d < -1 || d > 1 {
						t.Fatalf("output %d ch %d = %d, direct convolution gives %.3f", k, c, got, ref)
					}
					if got == want {
						exact++
					}
					if ref > 32767.5 || ref < -32768.5 {
						clipped++
					}
				}
			}
			if exact < len(y)*99/100 {
				t.Errorf("only %d of %d samples match the float64 reference exactly", exact, len(y))
			}
			if in != out && clipped == 0 {
				t.Errorf("test input never drove the output past full scale")
			}
		})
	})
}

// Output is bit-identical however the input is split, including splits in
// the middle of a stereo frame, one sample at a time and empty chunks.
func TestChunkingInvariance(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		eachPair(t, func(t *testing.T, in, out, ch int) {
			rng := rand.New(rand.NewPCG(7, uint64(in+out+ch)))
			x := noise(rng, 4000*ch+1) // odd length: a partial stereo frame at the end
			r := mustNew(t, in, out, ch)
			want := whole(r, x)
			if len(want) < len(x)/ch*ch*out/in {
				t.Fatalf("only %d output samples for %d input", len(want), len(x))
			}
			for trial := 0; trial < 12; trial++ {
				maxChunk := []int{1, 3, 17, 480, 2000, 5000}[trial%6]
				var got []int16
				for rest := x; len(rest) > 0; {
					n := min(rng.IntN(maxChunk+1), len(rest))
					before := len(got)
					got = r.Process(got, rest[:n])
					if grew := len(got) - before; grew > r.OutLen(n) {
						t.Fatalf("Process appended %d values for %d input, OutLen says at most %d", grew, n, r.OutLen(n))
					}
					rest = rest[n:]
				}
				before := len(got)
				got = r.Flush(got)
				if grew := len(got) - before; grew > r.FlushLen() {
					t.Fatalf("Flush appended %d values, FlushLen says at most %d", grew, r.FlushLen())
				}
				if !slices.Equal(got, want) {
					i := 0
					for i < min(len(got), len(want)) && got[i] == want[i] {
						i++
					}
					t.Fatalf("trial %d (chunks <= %d): output differs from the single-call output at %d (len %d vs %d)",
						trial, maxChunk, i, len(got), len(want))
				}
			}
		})
	})
}

func TestFlushResetsAndKeepsTail(t *testing.T) {
	r := mustNew(t, 24000, 48000, 1)
	if got := r.Flush(nil); len(got) != 0 {
		t.Fatalf("Flush of an empty stream appended %d samples", len(got))
	}
	// An impulse as the very last input sample: its whole (symmetric)
	// response must come out of Flush.
	x := make([]int16, 100)
	x[99] = 20000
	y := r.Process(nil, x)
	y = r.Flush(y)
	peak := 2*99 + r.Delay()
	if y[peak] != 20000 {
		t.Fatalf("impulse centre y[%d] = %d, want 20000", peak, y[peak])
	}
	nonzero := 0
	for d := 1; peak-d >= 0; d++ {
		if y[peak-d] != 0 {
			nonzero++
			if peak+d >= len(y) || y[peak+d] != y[peak-d] {
				t.Fatalf("tail lost: y[%d]=%d but the mirror sample is missing or different", peak-d, y[peak-d])
			}
		}
	}
	if nonzero < 16 {
		t.Fatalf("impulse response has only %d non-zero samples before the centre", nonzero)
	}
	// The next turn starts from silence: same output as a fresh Resampler.
	rng := rand.New(rand.NewPCG(1, 1))
	z := noise(rng, 1234)
	if !slices.Equal(whole(r, z), whole(mustNew(t, 24000, 48000, 1), z)) {
		t.Fatal("stream after Flush differs from a fresh Resampler")
	}
	// Reset drops history and a pending partial frame.
	s := mustNew(t, 24000, 48000, 2)
	s.Process(nil, z[:333])
	s.Reset()
	if !slices.Equal(whole(s, z), whole(mustNew(t, 24000, 48000, 2), z)) {
		t.Fatal("stream after Reset differs from a fresh Resampler")
	}
}

// Linear phase and the stated delay: an impulse at input t comes out centred
// on output t·L/M + Delay() with a symmetric response, for every pair.
func TestDelayAndLinearPhase(t *testing.T) {
	eachPair(t, func(t *testing.T, in, out, ch int) {
		r := mustNew(t, in, out, ch)
		l, m := out/gcd(in, out), in/gcd(in, out)
		t0 := 60 * m
		x := make([]int16, 200*m*ch)
		for c := 0; c < ch; c++ {
			x[t0*ch+c] = 16000
		}
		y := whole(r, x)
		peak := t0*l/m + r.Delay()
		for c := 0; c < ch; c++ {
			at := func(k int) int16 { return y[k*ch+c] }
			if at(peak) == 0 {
				t.Fatalf("no response at the stated centre %d", peak)
			}
			for k := 0; k < len(y)/ch; k++ {
				if math.Abs(float64(at(k))) > math.Abs(float64(at(peak))) {
					t.Fatalf("largest output at %d, want the stated centre %d", k, peak)
				}
			}
			for d := 1; d <= peak; d++ {
				if at(peak-d) != at(peak+d) {
					t.Fatalf("response not symmetric about %d: y[-%d]=%d y[+%d]=%d", peak, d, at(peak-d), d, at(peak+d))
				}
			}
		}
	})
}

// For 24→48 every other output is an input sample, exactly, Delay() late.
func TestHalfBandCopiesInput(t *testing.T) {
	r := mustNew(t, 24000, 48000, 1)
	if r.Delay()%2 != 1 {
		t.Fatalf("delay %d: the copied samples should land on odd outputs", r.Delay())
	}
	x := noise(rand.New(rand.NewPCG(3, 3)), 5000)
	y := whole(r, x)
	for k, v := range x {
		if y[2*k+r.Delay()] != v {
			t.Fatalf("y[%d] = %d, want input sample %d = %d", 2*k+r.Delay(), y[2*k+r.Delay()], k, v)
		}
	}
}

// The designed filters themselves, on a dense frequency grid rather than at
// a few tones: passband within ±0.05 dB, stopband at least 100 dB down
// everywhere. Every image (interpolating) or alias (decimating) of a
// passband tone falls in the stopband, so this bounds them all.
func TestDesignFrequencyResponse(t *testing.T) {
	for _, in := range rates {
		for _, out := range rates {
			if in == out {
				continue
			}
			f := design(in, out)
			// Reassemble the prototype at the intermediate rate from the
			// branches: coef[i] of branch p is h[p + (-off-i)·L].
			h := map[int]float64{}
			for p, ph := range f.phases {
				for i, c := range ph.coef {
					h[p+(-ph.off-i)*f.l] = float64(c)
				}
			}
			fI := float64(f.l * in)
			fn := float64(min(in, out)) / 2
			gain := func(hz float64) float64 {
				var re, im float64
				for n, c := range h {
					s, co := math.Sincos(-2 * math.Pi * hz * float64(n) / fI)
					re += c * co
					im += c * s
				}
				return math.Hypot(re, im) / float64(f.l)
			}
			worstPass, worstStop := 0.0, math.Inf(-1)
			for i := 0; i <= 400; i++ {
				worstPass = math.Max(worstPass, math.Abs(20*math.Log10(gain(passEdge*fn*float64(i)/400))))
			}
			for i := 0; i <= 2000; i++ {
				hz := stopEdge*fn + (fI/2-stopEdge*fn)*float64(i)/2000
				worstStop = math.Max(worstStop, 20*math.Log10(gain(hz)))
			}
			nonzero := 0
			for _, c := range h {
				if c != 0 {
					nonzero++
				}
			}
			t.Logf("%d→%d: %d non-zero taps, passband ±%.6f dB, stopband <= %.1f dB", in, out, nonzero, worstPass, worstStop)
			if worstPass > 0.05 || worstStop > -100 {
				t.Errorf("%d→%d: passband ±%.4f dB (want <= 0.05), stopband %.1f dB (want <= -100)", in, out, worstPass, worstStop)
			}
		}
	}
}

func converter(t *testing.T, in, out int) measure.Convert {
	r := mustNew(t, in, out, 1)
	return func(src []int16) []int16 { return whole(r, src) }
}

// The 24→48 figures: passband 0–10 kHz within ±0.05 dB, images of
// 0–10 kHz tones at least 100 dB down, 1 kHz at -1 dBFS with SNR >= 90 dB.
func TestQuality24to48(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rep := measure.Evaluate(converter(t, 24000, 48000), 24000, 48000, 10000, measure.ImageTones24to48)
		t.Logf("passband ±%.4f dB to 10 kHz, images >= %.1f dB down, SNR %.2f dB", rep.PassbandDevDB, rep.RejectionDB, rep.SNRdB)
		checkReport(t, rep)
	})
}

// 48→16: passband 0–6.67 kHz within ±0.05 dB, aliases of 9.33–24 kHz tones
// (which would land in 0–6.67 kHz) at least 100 dB down, SNR >= 90 dB.
func TestQuality48to16(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		rep := measure.Evaluate(converter(t, 48000, 16000), 48000, 16000, 6666, measure.AliasTones48to16)
		t.Logf("passband ±%.4f dB to 6.67 kHz, aliases >= %.1f dB down, SNR %.2f dB", rep.PassbandDevDB, rep.RejectionDB, rep.SNRdB)
		checkReport(t, rep)
	})
}

// Every other pair meets the same specification relative to its lower
// Nyquist frequency fn: flat to 5/6·fn, spurs of tones 100 dB down.
func TestQualityAllPairs(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	for _, in := range rates {
		for _, out := range rates {
			if in == out || (in == 24000 && out == 48000) || (in == 48000 && out == 16000) {
				continue
			}
			t.Run(fmt.Sprintf("%d-%d", in, out), func(t *testing.T) {
				fn := float64(min(in, out)) / 2
				var tones []float64
				if out > in {
					tones = []float64{97, math.Floor(fn/2) + 1, math.Floor(fn*5/6) - 1}
				} else {
					tones = []float64{math.Ceil(fn*7/6) + 1, float64(in)/2 - 7}
				}
				rep := measure.Evaluate(converter(t, in, out), in, out, math.Floor(fn*5/6), tones)
				t.Logf("passband ±%.4f dB, spurs >= %.1f dB down, SNR %.2f dB", rep.PassbandDevDB, rep.RejectionDB, rep.SNRdB)
				checkReport(t, rep)
			})
		}
	}
}

func checkReport(t *testing.T, rep measure.Report) {
	t.Helper()
	if rep.PassbandDevDB > 0.05 {
		t.Errorf("passband deviation %.4f dB, want <= 0.05", rep.PassbandDevDB)
	}
	if rep.RejectionDB < 100 {
		t.Errorf("image/alias rejection %.1f dB, want >= 100", rep.RejectionDB)
	}
	if rep.SNRdB < 90 {
		t.Errorf("SNR %.2f dB, want >= 90", rep.SNRdB)
	}
}

// A full-scale square wave overshoots (Gibbs): the output must saturate at
// the int16 limits, never wrap around.
func TestClipping(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		r := mustNew(t, 24000, 48000, 1)
		x := make([]int16, 4000)
		for i := range x {
			if i/6%2 == 0 {
				x[i] = 32767
			} else {
				x[i] = -32768
			}
		}
		y := whole(r, x)
		top, bottom := 0, 0
		for k := 200; k < len(y)-200; k++ {
			ref := reference(r.f, x, 1, 0, k)
			want := clampRound(ref)
			if d := int(y[k]) - int(want); d < -1 || d > 1 {
				t.Fatalf("y[%d] = %d, want %d (unclipped %.1f)", k, y[k], want, ref)
			}
			if ref > 32767.5 && y[k] == 32767 {
				top++
			}
			if ref < -32768.5 && y[k] == -32768 {
				bottom++
			}
		}
		if top == 0 || bottom == 0 {
			t.Fatalf("overshoot never saturated (top %d, bottom %d)", top, bottom)
		}
	})
}

func TestToInt16Rounding(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want int16
	}{
		{0, 0}, {0.49, 0}, {0.5, 0}, {0.51, 1}, {1.5, 2}, {2.5, 2}, {-0.5, 0}, {-1.5, -2}, {-2.5, -2},
		{-0.51, -1}, {32766.5, 32766}, {32767.4, 32767}, {32767.6, 32767}, {1e9, 32767},
		{-32767.5, -32768}, {-32768.4, -32768}, {-1e9, -32768},
	} {
		if got := toInt16(c.in); got != c.want {
			t.Errorf("toInt16(%v) = %d, want %d", c.in, got, c.want)
		}
	}
}

// No allocation per call once dst has room: the voice path calls Process
// every 20 ms per stream.
func TestNoAllocations(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		for _, c := range []struct{ in, out, ch int }{
			{24000, 48000, 1}, {24000, 48000, 2}, {48000, 16000, 1}, {48000, 16000, 2}, {16000, 48000, 2}, {16000, 24000, 2},
		} {
			r := mustNew(t, c.in, c.out, c.ch)
			src := noise(rand.New(rand.NewPCG(5, 5)), c.in/50*c.ch+1) // 20 ms and a partial frame
			dst := make([]int16, 0, r.OutLen(len(src))+r.FlushLen())
			// Exactly OutLen of room, with and without a partial frame
			// pending from the previous call.
			allocs := testing.AllocsPerRun(200, func() {
				dst = r.Process(dst[:0], src)
			})
			exact := make([]int16, 0, r.OutLen(len(src)))
			allocs += testing.AllocsPerRun(200, func() {
				exact = r.Process(exact[:0], src)
			})
			allocs += testing.AllocsPerRun(50, func() {
				dst = r.Flush(r.Process(dst[:0], src))
			})
			if allocs != 0 {
				t.Errorf("%d→%d ch%d: %.1f allocations per call", c.in, c.out, c.ch, allocs)
			}
		}
	})
}

// The assembly and portable kernels differ only by float32 rounding (FMA):
// at most one LSB apart.
func TestKernelsAgree(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2 kernel on this machine")
	}
	t.Cleanup(func() { useAVX2 = true })
	eachPair(t, func(t *testing.T, in, out, ch int) {
		x := noise(rand.New(rand.NewPCG(9, 9)), 3000*ch)
		useAVX2 = true
		a := whole(mustNew(t, in, out, ch), x)
		useAVX2 = false
		b := whole(mustNew(t, in, out, ch), x)
		useAVX2 = true
		if len(a) != len(b) {
			t.Fatalf("lengths %d and %d", len(a), len(b))
		}
		for i := range a {
			if d := int(a[i]) - int(b[i]); d < -1 || d > 1 {
				t.Fatalf("sample %d: avx2 %d, go %d", i, a[i], b[i])
			}
		}
	})
}
