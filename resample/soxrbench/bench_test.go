//go:build soxr

package soxrbench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livecord/livecord/resample"
	"github.com/livecord/livecord/resample/internal/measure"
	"golang.org/x/sys/unix"
)

const benchSeconds = 10

// input is benchSeconds of random audio at rate.
func input(rate int) []int16 {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]int16, rate*benchSeconds)
	for i := range x {
		x[i] = int16(rng.IntN(40000) - 20000)
	}
	return x
}

// Both sides convert the same mono int16 input in 20 ms chunks (the voice
// path's granularity) and end with a flush, reusing one stream. A stream
// function returns one run over the whole input.

func goStream(tb testing.TB, in, out int) func() {
	x := input(in)
	r, err := resample.New(in, out, 1)
	if err != nil {
		tb.Fatal(err)
	}
	dst := make([]int16, 0, r.OutLen(len(x))+r.FlushLen())
	chunk := in / 50
	return func() {
		dst = dst[:0]
		for j := 0; j < len(x); j += chunk {
			dst = r.Process(dst, x[j:j+chunk])
		}
		dst = r.Flush(dst)
	}
}

func soxrStream(spec Spec) func(tb testing.TB, in, out int) func() {
	return func(tb testing.TB, in, out int) func() {
		x := input(in)
		dst := make([]int16, 0, len(x)*out/in+100000)
		chunk := in / 50
		s, err := NewSoxr(in, out, 1, spec)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(s.Close)
		return func() {
			if err := s.Clear(); err != nil {
				tb.Fatal(err)
			}
			dst = dst[:0]
			for j := 0; j < len(x); j += chunk {
				if dst, err = s.Process(dst, x[j:j+chunk]); err != nil {
					tb.Fatal(err)
				}
			}
			if dst, err = s.Process(dst, nil); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

func bench(b *testing.B, stream func(tb testing.TB, in, out int) func(), in, out int) {
	run := stream(b, in, out)
	b.SetBytes(int64(in * benchSeconds * 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
}

// sameSpec asks soxr for livecord's specification: passband to 5/6 of the
// lower Nyquist frequency, stopband from 7/6, 115 dB (19.1 bits).
var sameSpec = Spec{PrecisionBits: 115 / 6.0206, PassbandEnd: 5.0 / 6, StopbandBegin: 7.0 / 6}

func BenchmarkGo24to48(b *testing.B)           { bench(b, goStream, 24000, 48000) }
func BenchmarkSoxrHQ24to48(b *testing.B)       { bench(b, soxrStream(Spec{}), 24000, 48000) }
func BenchmarkSoxrSameSpec24to48(b *testing.B) { bench(b, soxrStream(sameSpec), 24000, 48000) }
func BenchmarkGo48to16(b *testing.B)           { bench(b, goStream, 48000, 16000) }
func BenchmarkSoxrHQ48to16(b *testing.B)       { bench(b, soxrStream(Spec{}), 48000, 16000) }
func BenchmarkSoxrSameSpec48to16(b *testing.B) { bench(b, soxrStream(sameSpec), 48000, 16000) }

type contender struct {
	name   string
	stream func(tb testing.TB, in, out int) func()
	conv   func(t *testing.T, in, out int) measure.Convert
	delay  func(t *testing.T, in, out int) float64 // latency in output samples
}

func goConv(t *testing.T, in, out int) measure.Convert {
	r, err := resample.New(in, out, 1)
	if err != nil {
		t.Fatal(err)
	}
	return func(src []int16) []int16 { return r.Flush(r.Process(nil, src)) }
}

func soxrConv(spec Spec) func(t *testing.T, in, out int) measure.Convert {
	return func(t *testing.T, in, out int) measure.Convert {
		return func(src []int16) []int16 {
			s, err := NewSoxr(in, out, 1, spec)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			dst := make([]int16, 0, len(src)*out/in+100000)
			if dst, err = s.Process(dst, src); err != nil {
				t.Fatal(err)
			}
			if dst, err = s.Process(dst, nil); err != nil {
				t.Fatal(err)
			}
			return dst
		}
	}
}

// latency feeds one second in 20 ms chunks without flushing and returns how
// many output samples of that second are still missing: how far the output
// trails the input. lead is the number of leading output samples that
// precede the signal (livecord emits its group delay as leading samples,
// soxr trims it and withholds output instead).
func latency(t *testing.T, in, out int, process func(dst, src []int16) []int16, lead int) float64 {
	x := input(in)[:in]
	var y []int16
	for j := 0; j < len(x); j += in / 50 {
		y = process(y, x[j:j+in/50])
	}
	return float64(out - (len(y) - lead))
}

func soxrLatency(spec Spec) func(t *testing.T, in, out int) float64 {
	return func(t *testing.T, in, out int) float64 {
		s, err := NewSoxr(in, out, 1, spec)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return latency(t, in, out, func(dst, src []int16) []int16 {
			dst = slices.Grow(dst, len(src)*out/in+1000)
			if dst, err = s.Process(dst, src); err != nil {
				t.Fatal(err)
			}
			return dst
		}, 0)
	}
}

const (
	rounds       = 9
	runsPerRound = 40
)

// cpuTime returns the CPU time this OS thread spends calling run n times.
// Thread CPU time rather than wall time, because the machine is shared:
// time spent preempted by other processes is not charged to the converter.
func cpuTime(t *testing.T, run func(), n int) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var a, b unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &a); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		run()
	}
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &b); err != nil {
		t.Fatal(err)
	}
	return time.Duration(b.Nano() - a.Nano())
}

// TestTable measures speed and quality of livecord and libsoxr side by side
// and prints the Markdown tables for BENCHMARKS.md. Speed is thread CPU
// time, the converters taking turns (rounds × runsPerRound conversions of
// 10 s each), and the median round is reported.
func TestTable(t *testing.T) {
	contenders := []contender{
		{"livecord `resample`", goStream, goConv, func(t *testing.T, in, out int) float64 {
			r, err := resample.New(in, out, 1)
			if err != nil {
				t.Fatal(err)
			}
			return latency(t, in, out, r.Process, r.Delay())
		}},
		{"soxr HQ preset", soxrStream(Spec{}), soxrConv(Spec{}), soxrLatency(Spec{})},
		{"soxr, livecord's spec", soxrStream(sameSpec), soxrConv(sameSpec), soxrLatency(sameSpec)},
	}
	var md strings.Builder
	for _, pair := range []struct {
		in, out int
		passHz  float64
		tones   []float64
	}{
		{24000, 48000, 10000, measure.ImageTones24to48},
		{48000, 16000, 6666, measure.AliasTones48to16},
	} {
		in, out := pair.in, pair.out
		times := make([][]time.Duration, len(contenders))
		runs := make([]func(), len(contenders))
		for i, c := range contenders {
			runs[i] = c.stream(t, in, out)
			runs[i]() // warm up
		}
		for round := 0; round < rounds; round++ {
			for i := range contenders {
				times[i] = append(times[i], cpuTime(t, runs[i], runsPerRound)/runsPerRound)
			}
		}
		fmt.Fprintf(&md, "\n%d → %d kHz, mono int16, 20 ms chunks, one core:\n\n", in/1000, out/1000)
		md.WriteString("| converter | passband flatness | worst image/alias | SNR 1 kHz −1 dBFS | latency | CPU time per second of audio | × real time, one core | speed vs soxr HQ |\n")
		md.WriteString("|---|---|---|---|---|---|---|---|\n")
		median := func(i int) time.Duration {
			ts := slices.Sorted(slices.Values(times[i]))
			return ts[len(ts)/2] / benchSeconds
		}
		soxrHQ := median(1)
		for i, c := range contenders {
			rep := measure.Evaluate(c.conv(t, in, out), in, out, pair.passHz, pair.tones)
			d := c.delay(t, in, out)
			med := median(i)
			fmt.Fprintf(&md, "| %s | ±%.5f dB to %.2f kHz | −%.1f dB | %.2f dB | %.1f samples (%.3f ms) | %.1f µs | %.0f× | %.2f× |\n",
				c.name, rep.PassbandDevDB, pair.passHz/1000, rep.RejectionDB, rep.SNRdB, d, d/float64(out)*1000,
				float64(med)/float64(time.Microsecond), float64(time.Second)/float64(med), float64(soxrHQ)/float64(med))
		}
	}
	t.Log(md.String())
}
