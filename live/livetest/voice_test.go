package livetest_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/livecord/livecord/live/livetest"
)

// The synthetic voice is speech-like: seconds long, deterministic, with
// syllable-rate loudness changes, a moving pitch in the voice range and
// harmonics (not a pure tone), and different prompts sound different.
func TestSpeakIsSpeechLike(t *testing.T) {
	pcm, transcript := livetest.Speak("Hello? Gemini are you there?")
	again, _ := livetest.Speak("Hello? Gemini are you there?")
	if !slices.Equal(pcm, again) {
		t.Fatal("Speak is not deterministic")
	}
	if transcript != livetest.DefaultTranscript("Hello? Gemini are you there?") {
		t.Errorf("transcript %q", transcript)
	}
	d := time.Duration(len(pcm)) * time.Second / livetest.SampleRate
	if d < 2*time.Second || d > 10*time.Second {
		t.Errorf("duration %v, want a few seconds", d)
	}
	// Loudness per 20 ms frame: voiced syllables and pauses alternate.
	const frame = livetest.SampleRate / 50
	var loud, quiet, swings int
	prevLoud := false
	var pitches []float64
	for i := 0; i+frame <= len(pcm); i += frame {
		r := rms(pcm[i : i+frame])
		isLoud := r > 1500
		if isLoud {
			loud++
			if p := pitch(pcm[i : i+frame]); p > 0 {
				pitches = append(pitches, p)
			}
		} else if r < 300 {
			quiet++
		}
		if isLoud != prevLoud {
			swings++
		}
		prevLoud = isLoud
	}
	if loud < 50 || quiet < 10 || swings < 20 {
		t.Errorf("envelope: %d loud, %d quiet frames, %d swings", loud, quiet, swings)
	}
	lo, hi := slices.Min(pitches), slices.Max(pitches)
	if lo < 70 || hi > 300 || hi-lo < 30 {
		t.Errorf("pitch range %.0f–%.0f Hz over %d voiced frames: want a moving voice pitch", lo, hi, len(pitches))
	}
	// Harmonic: the energy is not all in the fundamental.
	if h := harmonicShare(pcm[len(pcm)/3:len(pcm)/3+4096], pitches[len(pitches)/3]); h < 0.2 {
		t.Errorf("only %.2f of the energy above the fundamental: too close to a pure tone", h)
	}
	other, _ := livetest.Speak("Something else entirely, please.")
	if slices.Equal(pcm[:4800], other[:4800]) && len(pcm) == len(other) {
		t.Error("different prompts give the same audio")
	}
	if l := livetest.Loop(pcm, time.Minute); len(l) != 60*livetest.SampleRate || !slices.Equal(l[:len(pcm)], pcm) {
		t.Error("Loop")
	}
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

// pitch estimates f0 by autocorrelation in 70–400 Hz; 0 when unvoiced.
func pitch(s []int16) float64 {
	best, bestLag := 0.0, 0
	var e float64
	for _, v := range s {
		e += float64(v) * float64(v)
	}
	for lag := livetest.SampleRate / 400; lag <= livetest.SampleRate/70 && lag < len(s); lag++ {
		var c float64
		for i := 0; i+lag < len(s); i++ {
			c += float64(s[i]) * float64(s[i+lag])
		}
		if c > best {
			best, bestLag = c, lag
		}
	}
	if bestLag == 0 || best < 0.3*e {
		return 0
	}
	return float64(livetest.SampleRate) / float64(bestLag)
}

// harmonicShare is the fraction of energy not at f0 (via a DFT at f0).
func harmonicShare(s []int16, f0 float64) float64 {
	var re, im, e float64
	for i, v := range s {
		x := float64(v)
		w := 2 * math.Pi * f0 * float64(i) / livetest.SampleRate
		re += x * math.Cos(w)
		im += x * math.Sin(w)
		e += x * x
	}
	fund := 2 * (re*re + im*im) / float64(len(s))
	return 1 - fund/e
}

// upsample2 doubles the rate by linear interpolation and delays by d
// samples: a stand-in for the resampler and codec delay downstream.
func upsample2(pcm []int16, delay int) []int16 {
	out := make([]int16, delay, delay+2*len(pcm))
	for i, v := range pcm {
		next := v
		if i+1 < len(pcm) {
			next = pcm[i+1]
		}
		out = append(out, v, int16((int(v)+int(next))/2))
	}
	return out
}

func TestEnvelopeCorrelation(t *testing.T) {
	pcm, _ := livetest.Speak("Hello? Gemini are you there?")
	got := upsample2(pcm, 48000*3/100) // 30 ms late at 48 kHz
	// Crude lossy damage: drop the low bits.
	for i := range got {
		got[i] &^= 0xff
	}
	if c := livetest.EnvelopeCorrelation(pcm, 24000, got, 48000, 100*time.Millisecond); c < 0.95 {
		t.Errorf("same speech correlates %.3f", c)
	}
	other, _ := livetest.Speak("A completely different sentence about the weather in Paris.")
	if c := livetest.EnvelopeCorrelation(pcm, 24000, upsample2(other, 0), 48000, 100*time.Millisecond); c > 0.6 {
		t.Errorf("different speech correlates %.3f", c)
	}
	if c := livetest.EnvelopeCorrelation(pcm, 24000, make([]int16, len(got)), 48000, 100*time.Millisecond); c > 0 {
		t.Errorf("silence correlates %.3f", c)
	}
}
