package inbound

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"layeh.com/gopus"

	"github.com/livecord/livecord/audio/speech"
)

// voicedStart returns where, in 48 kHz samples, a clean recording's voiced
// speech starts: the first 10 ms whose energy is within 20 dB of the
// recording's loudest 10 ms (unvoiced onsets such as the h of "hello" sit
// further down; vowels and voiced consonants do not).
func voicedStart(pcm []int16) int {
	const h = 480
	var es []float64
	for off := 0; off+h <= len(pcm); off += h {
		var s float64
		for _, v := range pcm[off : off+h] {
			s += float64(v) * float64(v)
		}
		es = append(es, s)
	}
	peak := slices.Max(es)
	for i, e := range es {
		if e >= peak/100 {
			return i * h
		}
	}
	return 0
}

// onsets runs 48 kHz mono audio through a Receiver as a Discord client
// would send it and returns the times of the Onset events, relative to the
// start of the audio.
func onsets(t *testing.T, pcm []int16) ([]time.Duration, Stats) {
	t.Helper()
	r := New(Config{})
	evs := run(r, stream(9, "dave", 1000, 960, encodeMono(t, pcm, 960, gopus.Voip, 32000, 10)))
	var at []time.Duration
	for _, e := range kinds(evs, Onset) {
		at = append(at, e.At.Sub(t0))
	}
	return at, r.Stats()
}

// TestOnsetLatencyOnSpeech: the onset of every phrase, preceded by quiet
// background noise, is reported within 100 ms of its voiced start (median
// and each), measured on the received packets' arrival times, and nothing
// is reported before the speech.
func TestOnsetLatencyOnSpeech(t *testing.T) {
	ps, err := speech.Phrases()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 18))
	var delays []float64
	// With room noise first, and straight from the first packet (a client's
	// voice gate usually opens on the speech itself).
	for _, lead := range []int{24000, 0} {
		for _, p := range ps {
			pcm := whiteNoise(rng, lead+len(p.PCM), 32768*math.Pow(10, -60.0/20))
			for i, v := range p.PCM {
				pcm[lead+i] = clamp16(float64(pcm[lead+i]) + float64(v))
			}
			start := time.Duration(lead+voicedStart(p.PCM)) * time.Second / 48000
			at, _ := onsets(t, pcm)
			if len(at) == 0 {
				t.Errorf("%s (lead %d): no onset", p.Name, lead)
				continue
			}
			d := at[0] - start
			t.Logf("%s (lead-in %v): onset %v after the voiced start (%d onsets in the phrase)", p.Name, time.Duration(lead)*time.Second/48000, d, len(at))
			if d < -20*time.Millisecond || d > 100*time.Millisecond {
				t.Errorf("%s: onset %v from the voiced start, want within (-20 ms, 100 ms]", p.Name, d)
			}
			delays = append(delays, float64(d)/float64(time.Millisecond))
		}
	}
	slices.Sort(delays)
	if len(delays) > 0 {
		med := delays[len(delays)/2]
		t.Logf("median onset delay %.0f ms over %d phrases", med, len(delays))
		if med > 100 {
			t.Errorf("median onset delay %.0f ms, want ≤ 100 ms", med)
		}
	}
}

// TestOnsetIgnoresNoise: keyboard clicks, breathing and steady comfort
// noise, loud enough to open a client's voice gate, report no onset,
// though their audio is received.
func TestOnsetIgnoresNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 18))
	const secs = 5
	dB := func(v float64) float64 { return 32768 * math.Pow(10, v/20) }
	bg := func() []int16 { return whiteNoise(rng, secs*48000, dB(-65)) }

	clicks := bg()
	for at := 4800; at < len(clicks)-9600; at += 4800 + rng.IntN(9600) { // 100–300 ms apart
		for _, c := range []struct{ off, n int }{{0, 192}, {3840 + rng.IntN(960), 96}} { // press, release
			amp := dB(-12 + 6*rng.Float64())
			for i := 0; i < c.n*4; i++ {
				env := math.Exp(-float64(i) / float64(c.n))
				clicks[at+c.off+i] = clamp16(float64(clicks[at+c.off+i]) + amp*env*rng.NormFloat64())
			}
		}
	}

	breath := bg()
	{
		var lp, hp, prev float64
		for i := range breath {
			// Band-limited noise (one-pole low-pass at ~2.5 kHz, high-pass
			// at ~300 Hz) under an inhale/exhale envelope.
			x := rng.NormFloat64()
			lp += 0.28 * (x - lp)
			hp = 0.96 * (hp + lp - prev)
			prev = lp
			ph := math.Mod(float64(i)/48000, 2.5) // 2.5 s cycle: 1 s in, 0.3 s gap, 1.2 s out
			env := 0.0
			switch {
			case ph < 1:
				env = math.Sin(math.Pi * ph)
			case ph > 1.3:
				env = math.Sin(math.Pi*(ph-1.3)/1.2) * 1.4
			}
			breath[i] = clamp16(float64(breath[i]) + dB(-28)*4*env*hp)
		}
	}

	comfort := func(level float64) []int16 {
		out := make([]int16, secs*48000)
		var lp float64
		for i := range out {
			lp += 0.1 * (rng.NormFloat64() - lp)
			out[i] = clamp16(dB(level) * 3.5 * lp)
		}
		return out
	}

	for _, c := range []struct {
		name string
		pcm  []int16
	}{
		{"keyboard clicks", clicks},
		{"breathing", breath},
		{"comfort noise -45 dBFS", comfort(-45)},
		{"comfort noise -30 dBFS", comfort(-30)},
	} {
		// Loud enough for the level gate: the periodicity test must be what
		// rejects it.
		if p := peakHopDB(c.pcm); p < -46 || p > -6 {
			t.Fatalf("%s: loudest 10 ms at %.1f dBFS, not a fair test", c.name, p)
		}
		at, st := onsets(t, c.pcm)
		if len(at) != 0 {
			t.Errorf("%s: %d false onsets (first at %v)", c.name, len(at), at[0])
		}
		if st.Frames < secs*50-5 {
			t.Errorf("%s: only %d frames decoded", c.name, st.Frames)
		}
	}
}

// peakHopDB is the energy of the loudest 10 ms of 48 kHz audio, in dBFS.
func peakHopDB(pcm []int16) float64 {
	best := 0.0
	for off := 0; off+480 <= len(pcm); off += 480 {
		var s float64
		for _, v := range pcm[off : off+480] {
			s += float64(v) * float64(v)
		}
		best = max(best, s/480)
	}
	return 10 * math.Log10(best/(32768*32768))
}

// TestOnsetAfterPause: each turn's speech reports its own onset; words
// inside one talkspurt do not re-trigger.
func TestOnsetAfterPause(t *testing.T) {
	one := phrase(t, "count")
	gap := make([]int16, 48000) // 1 s of digital silence between the turns
	pcm := slices.Concat(one, gap, one)
	r := New(Config{})
	evs := run(r, stream(2, "erin", 7, 960, encodeMono(t, pcm, 960, gopus.Voip, 32000, 0)))
	// The client would stop sending in the gap; here it sends silence,
	// which is not a pause to the receiver but is quiet to the detector.
	if n := len(kinds(evs, Onset)); n != 2 {
		t.Errorf("%d onsets over two utterances a second apart, want 2", n)
	}
}
