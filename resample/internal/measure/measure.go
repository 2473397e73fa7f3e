// Package measure computes the quality figures of a sample-rate converter
// from coherent test tones: gain at a frequency, image or alias level, and
// SNR. The resample tests and the soxr comparison harness share it so both
// converters are judged by the same code.
//
// Every tone has a whole number of hertz and is analysed over exactly one
// second of steady-state output, so it falls on a DFT bin and no window
// function (with its own sidelobes) limits the measurable range.
package measure

import (
	"math"
)

// Convert runs a whole mono int16 stream through a converter, flush
// included, and returns all of its output.
type Convert func(src []int16) []int16

// Tone returns seconds of a sine at hz, amplitude dBFS relative to int16
// full scale, rounded to int16.
func Tone(rate int, hz, dBFS, seconds float64) []int16 {
	a := 32767 * math.Pow(10, dBFS/20)
	x := make([]int16, int(seconds*float64(rate)))
	for i := range x {
		x[i] = int16(math.Round(a * math.Sin(2*math.Pi*hz*float64(i)/float64(rate))))
	}
	return x
}

// Steady returns one second (rate samples) of out starting half a second
// in, past the converter's start-up transient and before its tail.
func Steady(out []int16, rate int) []float64 {
	s := out[rate/2 : rate/2+rate]
	y := make([]float64, len(s))
	for i, v := range s {
		y[i] = float64(v)
	}
	return y
}

// Amplitude returns the peak amplitude of the component of x at hz, x being
// exactly one second at rate.
func Amplitude(x []float64, rate int, hz float64) float64 {
	c, s := component(x, rate, hz)
	return math.Hypot(c, s)
}

func component(x []float64, rate int, hz float64) (c, s float64) {
	w := 2 * math.Pi * hz / float64(rate)
	for n, v := range x {
		sn, cs := math.Sincos(w * float64(n))
		c += v * cs
		s += v * sn
	}
	return 2 * c / float64(len(x)), 2 * s / float64(len(x))
}

// SNR returns the ratio in dB of the tone at hz to everything else in x
// (noise, distortion, images, DC).
func SNR(x []float64, rate int, hz float64) float64 {
	c, s := component(x, rate, hz)
	w := 2 * math.Pi * hz / float64(rate)
	var noise float64
	for n, v := range x {
		sn, cs := math.Sincos(w * float64(n))
		r := v - c*cs - s*sn
		noise += r * r
	}
	signal := (c*c + s*s) / 2
	return 10 * math.Log10(signal/(noise/float64(len(x))))
}

// Tones whose spurs the tests and the soxr harness measure. All are odd
// whole hertz, so their periods are long and quantisation error spreads
// over many bins instead of piling onto the spur's.
var (
	// ImageTones24to48 spans 0–10 kHz; their images land at 14–24 kHz,
	// the nearest (9999 Hz → 14001 Hz) on the stopband edge.
	ImageTones24to48 = []float64{101, 997, 2003, 3001, 4001, 5003, 6007, 7001, 8009, 9001, 9501, 9973, 9999}
	// AliasTones48to16 spans 9.33–24 kHz, whose aliases would land in the
	// 0–6.67 kHz passband, the nearest (9341 Hz → 6659 Hz) at its edge.
	AliasTones48to16 = []float64{9341, 10007, 12011, 14009, 15013, 17011, 19001, 21013, 23011, 23993}
)

// DB converts an amplitude ratio to decibels.
func DB(ratio float64) float64 { return 20 * math.Log10(ratio) }

// Report holds a converter's figures for one rate pair.
type Report struct {
	PassbandHz     float64 // flatness measured from 20 Hz to here
	PassbandDevDB  float64 // largest |gain| in dB over the passband tones
	RejectionDB    float64 // smallest image/alias rejection over the test tones
	RejectionTones string  // which tones were tested
	SNRdB          float64 // 1 kHz at -1 dBFS through int16
}

// Evaluate measures conv converting inRate to outRate: passband gain of
// tones from 20 Hz to passHz, rejection of the images (upsampling) or
// aliases (downsampling) of the tones in rejectTones, and the SNR of a
// 1 kHz sine at -1 dBFS.
func Evaluate(conv Convert, inRate, outRate int, passHz float64, rejectTones []float64) Report {
	r := Report{PassbandHz: passHz, RejectionDB: math.Inf(1)}
	for hz := 20.0; hz <= passHz; hz += passStep(passHz) {
		f := 2*math.Floor(hz/2) + 1 // odd whole hertz: no short period
		if f > passHz {
			f = math.Floor(passHz)
		}
		in := Tone(inRate, f, -1, 2)
		ain := Amplitude(Steady(in, inRate), inRate, f)
		aout := Amplitude(Steady(conv(in), outRate), outRate, f)
		r.PassbandDevDB = math.Max(r.PassbandDevDB, math.Abs(DB(aout/ain)))
	}
	for _, f := range rejectTones {
		in := Tone(inRate, f, -1, 2)
		ain := Amplitude(Steady(in, inRate), inRate, f)
		y := Steady(conv(in), outRate)
		spur := Amplitude(y, outRate, Spur(f, inRate, outRate))
		r.RejectionDB = math.Min(r.RejectionDB, -DB(spur/ain))
	}
	in := Tone(inRate, 1000, -1, 2)
	r.SNRdB = SNR(Steady(conv(in), outRate), outRate, 1000)
	return r
}

func passStep(passHz float64) float64 { return passHz / 24 }

// Spur returns where a tone at hz reappears after conversion: its first
// image (mirrored about the input Nyquist frequency) when upsampling, or its
// alias folded into the output band when downsampling.
func Spur(hz float64, inRate, outRate int) float64 {
	if outRate > inRate {
		hz = float64(inRate) - hz
	}
	fo := float64(outRate)
	a := math.Mod(hz, fo)
	if a > fo/2 {
		a = fo - a
	}
	return a
}
