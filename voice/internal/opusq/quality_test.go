package opusq_test

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/voice/internal/opusq"
	"layeh.com/gopus"
)

// quality is one complexity's decoded result on one clip.
type quality struct {
	segSNR   float64 // dB, decoded against the input, aligned for the codec delay
	envCorr  float64 // livetest.EnvelopeCorrelation, decoded against the input
	bandDist float64 // bandDistortion (dB), decoded against the input
	kbps     float64 // bitrate actually produced
	packets  [][]byte
}

func newEncoder(tb testing.TB, bitrate, complexity int) *gopus.Encoder {
	tb.Helper()
	enc, err := gopus.NewEncoder(48000, 2, gopus.Audio)
	if err != nil {
		tb.Fatal(err)
	}
	enc.SetBitrate(bitrate)
	if err := opusq.SetComplexity(enc, complexity); err != nil {
		tb.Fatal(err)
	}
	return enc
}

// measure encodes mono (48 kHz) as the player does (stereo, Audio, 20 ms
// frames), decodes it again and compares the left channel with the input.
func measure(tb testing.TB, mono []int16, bitrate, complexity int) quality {
	tb.Helper()
	return measureSig(tb, mono, bitrate, complexity, opusq.SignalAuto)
}

func measureSig(tb testing.TB, mono []int16, bitrate, complexity int, sig opusq.Signal) quality {
	tb.Helper()
	enc := newEncoder(tb, bitrate, complexity)
	if err := opusq.SetSignal(enc, sig); err != nil {
		tb.Fatal(err)
	}
	delay, err := opusq.Lookahead(enc)
	if err != nil {
		tb.Fatal(err)
	}
	dec, err := gopus.NewDecoder(48000, 2)
	if err != nil {
		tb.Fatal(err)
	}
	// Trailing silence flushes the codec delay out of the encoder.
	in := stereo(append(append([]int16(nil), mono...), make([]int16, opusq.FrameSamples+delay)...))
	var q quality
	var out []int16
	var total int
	for f := 0; (f+1)*2*opusq.FrameSamples <= len(in); f++ {
		pkt, err := enc.Encode(in[f*2*opusq.FrameSamples:(f+1)*2*opusq.FrameSamples], opusq.FrameSamples, 1500)
		if err != nil {
			tb.Fatal(err)
		}
		q.packets = append(q.packets, pkt)
		total += len(pkt)
		pcm, err := dec.Decode(pkt, opusq.FrameSamples, false)
		if err != nil {
			tb.Fatal(err)
		}
		for i := 0; i < len(pcm); i += 2 {
			out = append(out, pcm[i])
		}
	}
	if len(out) < delay+len(mono) {
		tb.Fatalf("decoded %d samples, want %d", len(out), delay+len(mono))
	}
	got := out[delay : delay+len(mono)]
	q.segSNR = segSNR(mono, got)
	q.bandDist = bandDistortion(mono, got)
	q.envCorr = livetest.EnvelopeCorrelation(mono, 48000, got, 48000, 100*time.Millisecond)
	q.kbps = float64(total) * 8 / (float64(len(q.packets)) * opusq.FramePeriod.Seconds()) / 1000
	return q
}

// segSNR is the segmental SNR of got against ref (aligned, same length):
// the mean over 20 ms segments of each segment's SNR, clamped to
// [-10, 35] dB as is usual (a perfect segment must not dominate), over the
// segments within 40 dB of the loudest (speech, not the pauses).
func segSNR(ref, got []int16) float64 {
	const seg = opusq.FrameSamples
	var energies []float64
	for i := 0; i+seg <= len(ref); i += seg {
		var e float64
		for _, v := range ref[i : i+seg] {
			e += float64(v) * float64(v)
		}
		energies = append(energies, e)
	}
	var loudest float64
	for _, e := range energies {
		loudest = max(loudest, e)
	}
	var sum float64
	var n int
	for s, e := range energies {
		if e < loudest*1e-4 {
			continue
		}
		var noise float64
		for i := s * seg; i < (s+1)*seg; i++ {
			d := float64(ref[i]) - float64(got[i])
			noise += d * d
		}
		snr := 35.0
		if noise > 0 {
			snr = min(35, max(-10, 10*math.Log10(e/noise)))
		}
		sum += snr
		n++
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// TestComplexityControl checks SetComplexity, Complexity and Lookahead
// against the libopus inside gopus: values round-trip, bad ones are
// refused, and the setting changes what the encoder produces.
func TestComplexityControl(t *testing.T) {
	enc := newEncoder(t, 64000, 10)
	for c := 0; c <= 10; c++ {
		if err := opusq.SetComplexity(enc, c); err != nil {
			t.Fatalf("SetComplexity(%d): %v", c, err)
		}
		if got, err := opusq.Complexity(enc); err != nil || got != c {
			t.Fatalf("Complexity after SetComplexity(%d) = %d, %v", c, got, err)
		}
	}
	for _, c := range []int{-1, 11} {
		if err := opusq.SetComplexity(enc, c); err == nil {
			t.Errorf("SetComplexity(%d) succeeded", c)
		}
	}
	if _, err := opusq.Complexity(nil); err == nil {
		t.Error("Complexity(nil) succeeded")
	}
	// libopus's delay at 48 kHz for the Audio application: 2.5 ms of
	// lookahead plus 4 ms of delay compensation.
	if d, err := opusq.Lookahead(enc); err != nil || d != 48000/400+48000/250 {
		t.Errorf("Lookahead = %d, %v; want %d", d, err, 48000/400+48000/250)
	}
	pcm := synthetic(t)
	low, high := measure(t, pcm, 64000, 0), measure(t, pcm, 64000, 10)
	same, speech := 0, 0
	for i := range min(len(low.packets), len(high.packets)) {
		if len(high.packets[i]) < 20 {
			continue // pauses: both send the same near-empty packet
		}
		speech++
		if bytes.Equal(low.packets[i], high.packets[i]) {
			same++
		}
	}
	if speech < len(high.packets)/2 || same > speech/10 {
		t.Errorf("complexity 0 and 10 produced %d identical packets of %d speech packets (%d in all): the setting has no effect", same, speech, len(high.packets))
	}
	for _, s := range []opusq.Signal{opusq.SignalVoice, opusq.SignalMusic, opusq.SignalAuto} {
		if err := opusq.SetSignal(enc, s); err != nil {
			t.Fatalf("SetSignal(%d): %v", s, err)
		}
		if got, err := opusq.SignalOf(enc); err != nil || got != s {
			t.Fatalf("SignalOf after SetSignal(%d) = %d, %v", s, got, err)
		}
	}
	if err := opusq.SetSignal(enc, 7); err == nil {
		t.Error("SetSignal(7) succeeded")
	}
}

// TestAlignment checks the quality measure itself: decoded audio lines up
// with the input at exactly the encoder's lookahead (a shift by a few
// samples either way scores clearly worse), so segSNR measures the codec
// and not a misalignment.
func TestAlignment(t *testing.T) {
	mono := synthetic(t)
	enc := newEncoder(t, 64000, 10)
	delay, _ := opusq.Lookahead(enc)
	dec, _ := gopus.NewDecoder(48000, 2)
	in := stereo(append(append([]int16(nil), mono...), make([]int16, 2*opusq.FrameSamples)...))
	var out []int16
	for f := 0; (f+1)*2*opusq.FrameSamples <= len(in); f++ {
		pkt, err := enc.Encode(in[f*2*opusq.FrameSamples:(f+1)*2*opusq.FrameSamples], opusq.FrameSamples, 1500)
		if err != nil {
			t.Fatal(err)
		}
		pcm, err := dec.Decode(pkt, opusq.FrameSamples, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(pcm); i += 2 {
			out = append(out, pcm[i])
		}
	}
	at := func(shift int) float64 { return segSNR(mono, out[delay+shift:delay+shift+len(mono)]) }
	best := at(0)
	for _, s := range []int{-4, -2, -1, 1, 2, 4} {
		if v := at(s); v >= best {
			t.Errorf("segSNR at lookahead%+d = %.2f dB ≥ %.2f dB at the lookahead", s, v, best)
		}
	}
	if best < 10 {
		t.Errorf("segSNR at 64 kb/s, complexity 10 = %.2f dB; decoded speech should be well above 10 dB", best)
	}
}

// TestDefaultComplexityQuality holds the default setting (DefaultComplexity
// with SignalVoice) to what BENCHMARKS.md claims for it, on every speech
// source available, at the default channel bitrate and a low one: against
// today's setting (libopus's own default, which sounds exactly like 10)
// the critical-band spectrum stays within 1 dB and the loudness envelope
// keeps the phrasing. segSNR is logged, not judged: it changes with the
// codec mode (see BENCHMARKS.md).
func TestDefaultComplexityQuality(t *testing.T) {
	const maxBandLoss = 1.0 // dB; measured up to 0.5
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			pcm := src.pcm(t)
			for _, bitrate := range []int{64000, 32000} {
				ref := measure(t, pcm, bitrate, 10)
				def := measureSig(t, pcm, bitrate, opusq.DefaultComplexity, opusq.SignalVoice)
				t.Logf("%d kb/s: complexity 10 / %d+voice: segSNR %.2f / %.2f dB, band distortion %.2f / %.2f dB, envelope correlation %.4f / %.4f",
					bitrate/1000, opusq.DefaultComplexity, ref.segSNR, def.segSNR, ref.bandDist, def.bandDist, ref.envCorr, def.envCorr)
				if loss := def.bandDist - ref.bandDist; loss > maxBandLoss {
					t.Errorf("%d kb/s: complexity %d adds %.2f dB of band distortion to 10's (max %.1f)", bitrate/1000, opusq.DefaultComplexity, loss, maxBandLoss)
				}
				if def.envCorr < 0.995 {
					t.Errorf("%d kb/s: complexity %d envelope correlation %.4f < 0.995", bitrate/1000, opusq.DefaultComplexity, def.envCorr)
				}
			}
		})
	}
}

// TestDefaultComplexityCost checks that the default setting is cheaper than
// complexity 10 here and now: thread CPU time of the same speech (its first
// four seconds), the two settings taking turns, median of five passes each.
func TestDefaultComplexityCost(t *testing.T) {
	in := stereo(synthetic(t))[:200*2*opusq.FrameSamples]
	for _, bitrate := range []int{64000, 32000} {
		def, ref := newEncoder(t, bitrate, opusq.DefaultComplexity), newEncoder(t, bitrate, 10)
		if err := opusq.SetSignal(def, opusq.SignalVoice); err != nil {
			t.Fatal(err)
		}
		var dc, rc []time.Duration
		runtimeLock(t)
		pass := func(e *gopus.Encoder) time.Duration {
			t0 := opusq.ThreadCPU()
			for f := 0; (f+1)*2*opusq.FrameSamples <= len(in); f++ {
				if _, err := e.Encode(in[f*2*opusq.FrameSamples:(f+1)*2*opusq.FrameSamples], opusq.FrameSamples, 1500); err != nil {
					t.Fatal(err)
				}
			}
			return opusq.ThreadCPU() - t0
		}
		for range 5 {
			dc, rc = append(dc, pass(def)), append(rc, pass(ref))
		}
		slices.Sort(dc)
		slices.Sort(rc)
		ratio := float64(dc[2]) / float64(rc[2])
		t.Logf("%d kb/s: complexity %d+voice costs %.2f× complexity 10", bitrate/1000, opusq.DefaultComplexity, ratio)
		if ratio > 0.95 {
			t.Errorf("%d kb/s: complexity %d+voice costs %.2f× complexity 10; BENCHMARKS.md measured 0.6–0.85×", bitrate/1000, opusq.DefaultComplexity, ratio)
		}
	}
}

// BenchmarkComplexity measures, for each speech source, bitrate, complexity
// and signal hint, libopus's thread CPU time per 20 ms frame beside complexity
// 10's (no hint, as the player encodes today: libopus's default 9 sounds
// and costs the same) in the same run (each op encodes the same frame with
// both, taking turns), and the decoded quality of the whole clip against
// complexity 10's.
func BenchmarkComplexity(b *testing.B) {
	for _, src := range sources {
		b.Run(src.name, func(b *testing.B) {
			pcm := src.pcm(b)
			in := stereo(pcm)
			frames := len(in) / (2 * opusq.FrameSamples)
			for _, bitrate := range []int{64000, 32000} {
				ref := measure(b, pcm, bitrate, 10)
				for c := 0; c <= 10; c++ {
					for _, sig := range []opusq.Signal{opusq.SignalAuto, opusq.SignalVoice} {
						name := map[opusq.Signal]string{opusq.SignalAuto: "auto", opusq.SignalVoice: "voice"}[sig]
						b.Run(fmt.Sprintf("kbps=%d/c=%d/signal=%s", bitrate/1000, c, name), func(b *testing.B) {
							q := measureSig(b, pcm, bitrate, c, sig)
							enc, enc10 := newEncoder(b, bitrate, c), newEncoder(b, bitrate, 10)
							if err := opusq.SetSignal(enc, sig); err != nil {
								b.Fatal(err)
							}
							runtimeLock(b)
							var cost, cost10 time.Duration
							encode := func(e *gopus.Encoder, f []int16) time.Duration {
								t0 := opusq.ThreadCPU()
								if _, err := e.Encode(f, opusq.FrameSamples, 1500); err != nil {
									b.Fatal(err)
								}
								return opusq.ThreadCPU() - t0
							}
							i := 0
							for b.Loop() {
								f := in[(i%frames)*2*opusq.FrameSamples:][:2*opusq.FrameSamples]
								// The second encoder finds the frame in cache: take turns.
								if i%2 == 0 {
									cost += encode(enc, f)
									cost10 += encode(enc10, f)
								} else {
									cost10 += encode(enc10, f)
									cost += encode(enc, f)
								}
								i++
							}
							b.ReportMetric(float64(cost.Microseconds())/float64(i), "encode-us/frame")
							b.ReportMetric(float64(cost)/float64(cost10), "cost/c10")
							b.ReportMetric(q.segSNR, "segsnr-dB")
							b.ReportMetric(q.segSNR-ref.segSNR, "dsegsnr-dB")
							b.ReportMetric(q.envCorr, "env-corr")
							b.ReportMetric(q.bandDist, "banddist-dB")
							b.ReportMetric(q.bandDist-ref.bandDist, "dbanddist-dB")
							b.ReportMetric(q.kbps, "kbps")
						})
					}
				}
			}
		})
	}
}
