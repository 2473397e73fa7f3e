package livetest

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/livecord/livecord/live/internal/wire"
)

// The emulator's voice activity detection works on the audio itself, in
// audio time (samples received), never wall time, so a test may stream
// faster than real time and see the same turns:
//
//   - The audio is cut into 20 ms frames; a frame is voiced when its RMS
//     level is above the start threshold: -50 dBFS with START_SENSITIVITY_HIGH
//     (the service's default), -40 dBFS with START_SENSITIVITY_LOW.
//   - Speech starts once voiced frames have lasted the prefix padding
//     (prefixPaddingMs; default 40 ms with high sensitivity, 100 ms with
//     low). The frames that led to the start belong to the utterance.
//   - Speech ends after silenceDurationMs of unvoiced frames (the hangover;
//     default 500 ms with END_SENSITIVITY_HIGH, 1000 ms with LOW), on
//     audioStreamEnd, or when an utterance reaches maxUtterance.
//
// At the start the emulator sends voiceActivity ACTIVITY_START and, with
// START_OF_ACTIVITY_INTERRUPTS (the default), interrupts the reply being
// generated (interrupted, then turnComplete). At the end it answers as a
// new turn: voiceActivity ACTIVITY_END, inputTranscription (when asked for
// and the speech was recognised), then the reply. With automatic activity
// detection disabled, activityStart and activityEnd mark the speech instead
// and no voiceActivity is sent.
const (
	vadFrame        = 20 * time.Millisecond
	startHighDBFS   = -50.0
	startLowDBFS    = -40.0
	prefixHigh      = 40 * time.Millisecond
	prefixLow       = 100 * time.Millisecond
	hangoverHigh    = 500 * time.Millisecond
	hangoverLow     = 1000 * time.Millisecond
	maxUtterance    = 2 * time.Minute
	recogniseMinCor = 0.7
	recogniseMaxLag = 500 * time.Millisecond
)

// vad is one connection's activity detector and utterance buffer.
type vad struct {
	threshold float64       // dBFS
	prefix    time.Duration // voiced time before speech starts
	hangover  time.Duration // unvoiced time before speech ends

	rate     int
	frame    []int16 // partial frame
	run      []int16 // the current run of voiced frames before speech starts
	speaking bool
	quiet    time.Duration // unvoiced time since the last voiced frame
	utt      []int16
}

func newVAD(aad *wire.AutomaticActivityDetection) *vad {
	v := &vad{threshold: startHighDBFS, prefix: prefixHigh, hangover: hangoverHigh, rate: 16000}
	if aad == nil {
		return v
	}
	if aad.StartOfSpeechSensitivity == "START_SENSITIVITY_LOW" {
		v.threshold, v.prefix = startLowDBFS, prefixLow
	}
	if aad.EndOfSpeechSensitivity == "END_SENSITIVITY_LOW" {
		v.hangover = hangoverLow
	}
	if aad.PrefixPaddingMs > 0 {
		v.prefix = time.Duration(aad.PrefixPaddingMs) * time.Millisecond
	}
	if aad.SilenceDurationMs > 0 {
		v.hangover = time.Duration(aad.SilenceDurationMs) * time.Millisecond
	}
	return v
}

// vadEvent is what feeding audio changed.
type vadEvent int

const (
	vadStart vadEvent = iota + 1
	vadEnd
)

// feed adds samples at rate and reports the starts and ends of speech they
// contain, in order; ends carry the utterance.
func (v *vad) feed(pcm []int16, rate int, emit func(vadEvent, []int16)) {
	if rate != v.rate {
		v.rate, v.frame = rate, v.frame[:0]
	}
	n := int(time.Duration(rate) * vadFrame / time.Second)
	for len(pcm) > 0 {
		take := min(n-len(v.frame), len(pcm))
		v.frame = append(v.frame, pcm[:take]...)
		pcm = pcm[take:]
		if len(v.frame) < n {
			return
		}
		v.step(v.frame, emit)
		v.frame = v.frame[:0]
	}
}

func (v *vad) step(frame []int16, emit func(vadEvent, []int16)) {
	voiced := dbfs(frame) > v.threshold
	if !v.speaking {
		if !voiced {
			v.run = v.run[:0]
			return
		}
		v.run = append(v.run, frame...)
		if v.duration(len(v.run)) < v.prefix {
			return
		}
		v.speaking, v.quiet = true, 0
		v.utt = append(v.utt[:0], v.run...)
		v.run = v.run[:0]
		emit(vadStart, nil)
		return
	}
	v.utt = append(v.utt, frame...)
	if voiced {
		v.quiet = 0
	} else {
		v.quiet += v.duration(len(frame))
	}
	if v.quiet >= v.hangover || v.duration(len(v.utt)) >= maxUtterance {
		v.end(emit)
	}
}

// end closes the utterance in progress, if any (audioStreamEnd).
func (v *vad) end(emit func(vadEvent, []int16)) {
	v.run, v.frame = v.run[:0], v.frame[:0]
	if !v.speaking {
		return
	}
	v.speaking = false
	utt := v.utt
	v.utt = nil
	emit(vadEnd, utt)
}

func (v *vad) duration(samples int) time.Duration {
	return time.Duration(samples) * time.Second / time.Duration(v.rate)
}

// dbfs is the RMS level of pcm relative to full scale.
func dbfs(pcm []int16) float64 {
	var sum float64
	for _, s := range pcm {
		sum += float64(s) * float64(s)
	}
	if sum == 0 {
		return math.Inf(-1)
	}
	return 20 * math.Log10(math.Sqrt(sum/float64(len(pcm)))/32768)
}

// phrase is speech a test registered with Server.Hear.
type phrase struct {
	text string
	pcm  []int16
	rate int
}

// Hear registers speech the emulator recognises in realtime audio: an
// utterance whose loudness envelope matches pcm's (mono, at rate Hz, at
// least a second long) is transcribed as text (inputTranscription, and the
// prompt the responder sees). Matching is EnvelopeCorrelation ≥ 0.7 at a lag
// within 500 ms, the best phrase winning, so speech that passed through
// resampling and Opus is still recognised. Unrecognised speech is answered
// with an empty prompt and no transcription.
func (s *Server) Hear(text string, pcm []int16, rate int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phrases = append(s.phrases, phrase{text: text, pcm: append([]int16(nil), pcm...), rate: rate})
}

// recognise returns the registered phrase utt (at rate) matches best, or "".
func (s *Server) recognise(utt []int16, rate int) string {
	s.mu.Lock()
	phrases := s.phrases
	s.mu.Unlock()
	best, text := recogniseMinCor, ""
	for _, p := range phrases {
		if c := EnvelopeCorrelation(p.pcm, p.rate, utt, rate, recogniseMaxLag); c >= best {
			best, text = c, p.text
		}
	}
	return text
}

// pcmRate parses the rate of an audio/pcm MIME type; 0 if it is not PCM.
// A bare "audio/pcm" is 16 kHz, the service's native input rate.
func pcmRate(mime string) int {
	typ, params, _ := strings.Cut(mime, ";")
	if strings.TrimSpace(typ) != "audio/pcm" {
		return 0
	}
	if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "rate" {
		r, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || r < 8000 || r > 48000 {
			return 0
		}
		return r
	}
	return 16000
}
