package livetest

import (
	"math"
	"testing"
	"time"

	"github.com/livecord/livecord/live/internal/wire"
)

// tone is a 200 Hz sine at level dBFS (RMS) for d at 16 kHz.
func tone(level float64, d time.Duration) []int16 {
	n := int(d.Seconds() * 16000)
	amp := math.Pow(10, level/20) * 32768 * math.Sqrt2
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*200*float64(i)/16000))
	}
	return out
}

type vadLog struct {
	starts, ends []time.Duration // audio time of each event
	utts         [][]int16
}

// run feeds pcm in 10 ms pieces and logs when (in audio time) events fire.
func (l *vadLog) run(v *vad, pcm []int16) {
	const piece = 160
	for lo := 0; lo < len(pcm); lo += piece {
		hi := min(lo+piece, len(pcm))
		at := time.Duration(hi) * time.Second / 16000
		v.feed(pcm[lo:hi], 16000, func(ev vadEvent, utt []int16) {
			if ev == vadStart {
				l.starts = append(l.starts, at)
			} else {
				l.ends = append(l.ends, at)
				l.utts = append(l.utts, utt)
			}
		})
	}
}

func cat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// The documented thresholds: levels, prefix padding, hangover and the
// sensitivities and overrides of realtimeInputConfig.
func TestVADThresholds(t *testing.T) {
	quiet := func(d time.Duration) []int16 { return make([]int16, int(d.Seconds()*16000)) }
	ms := time.Millisecond
	tests := []struct {
		name         string
		aad          *wire.AutomaticActivityDetection
		pcm          []int16
		starts, ends []time.Duration
	}{
		{"default: -45 dBFS speech starts after 40 ms, ends after 500 ms of silence",
			nil, cat(quiet(100*ms), tone(-45, 300*ms), quiet(600*ms)), []time.Duration{140 * ms}, []time.Duration{900 * ms}},
		{"default: a 10 ms click is not speech", nil, cat(tone(-20, 10*ms), quiet(600*ms)), nil, nil},
		{"default: -55 dBFS is below the threshold", nil, cat(tone(-55, 500*ms), quiet(600*ms)), nil, nil},
		{"a 400 ms pause does not end speech", nil, cat(tone(-30, 200*ms), quiet(400*ms), tone(-30, 200*ms), quiet(600*ms)),
			[]time.Duration{40 * ms}, []time.Duration{1300 * ms}},
		{"low start sensitivity: -45 dBFS is not speech", &wire.AutomaticActivityDetection{StartOfSpeechSensitivity: "START_SENSITIVITY_LOW"},
			cat(tone(-45, 300*ms), quiet(600*ms)), nil, nil},
		{"low start sensitivity: -35 dBFS starts after 100 ms", &wire.AutomaticActivityDetection{StartOfSpeechSensitivity: "START_SENSITIVITY_LOW"},
			cat(tone(-35, 300*ms), quiet(600*ms)), []time.Duration{100 * ms}, []time.Duration{800 * ms}},
		{"low end sensitivity: 1 s hangover", &wire.AutomaticActivityDetection{EndOfSpeechSensitivity: "END_SENSITIVITY_LOW"},
			cat(tone(-30, 200*ms), quiet(1100*ms)), []time.Duration{40 * ms}, []time.Duration{1200 * ms}},
		{"prefix padding and silence duration override", &wire.AutomaticActivityDetection{PrefixPaddingMs: 200, SilenceDurationMs: 100},
			cat(tone(-30, 300*ms), quiet(200*ms)), []time.Duration{200 * ms}, []time.Duration{400 * ms}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var l vadLog
			l.run(newVAD(tc.aad), tc.pcm)
			if !equalDurations(l.starts, tc.starts) || !equalDurations(l.ends, tc.ends) {
				t.Errorf("starts %v ends %v, want %v %v", l.starts, l.ends, tc.starts, tc.ends)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The utterance holds the speech from its first voiced frame, and
// audioStreamEnd ends speech at once.
func TestVADUtteranceAndStreamEnd(t *testing.T) {
	var l vadLog
	v := newVAD(nil)
	speech := tone(-30, 300*time.Millisecond)
	l.run(v, cat(make([]int16, 1600), speech))
	if len(l.starts) != 1 || len(l.ends) != 0 {
		t.Fatalf("starts %v ends %v", l.starts, l.ends)
	}
	v.end(func(ev vadEvent, utt []int16) { l.utts = append(l.utts, utt) })
	if len(l.utts) != 1 || len(l.utts[0]) != len(speech) {
		t.Fatalf("utterance of %d samples, want %d", len(l.utts[0]), len(speech))
	}
	for i := range speech {
		if l.utts[0][i] != speech[i] {
			t.Fatalf("utterance differs at %d", i)
		}
	}
}

// Speech is recognised through the envelope, also after a rate change.
func TestRecognise(t *testing.T) {
	s := &Server{}
	a, b := "What is the weather like in Paris today?", "Please tell me a joke about cats."
	s.Hear(a, Say(a), SampleRate)
	s.Hear(b, Say(b), SampleRate)
	// 24 kHz to 16 kHz by taking two samples of three (envelopes only need
	// the loudness).
	down := func(p []int16) []int16 {
		var out []int16
		for i := 0; i+2 < len(p); i += 3 {
			out = append(out, p[i], p[i+1])
		}
		return out
	}
	for _, text := range []string{a, b} {
		if got := s.recognise(cat(make([]int16, 3200), down(Say(text))), 16000); got != text {
			t.Errorf("heard %q, want %q", got, text)
		}
	}
	if got := s.recognise(tone(-30, 2*time.Second), 16000); got != "" {
		t.Errorf("a steady tone heard as %q", got)
	}
}

func TestPCMRate(t *testing.T) {
	for mime, want := range map[string]int{"audio/pcm;rate=16000": 16000, "audio/pcm; rate=24000": 24000, "audio/pcm": 16000,
		"audio/pcm;rate=abc": 0, "audio/pcm;rate=1000000": 0, "image/jpeg": 0, "": 0} {
		if got := pcmRate(mime); got != want {
			t.Errorf("%q: %d, want %d", mime, got, want)
		}
	}
}
