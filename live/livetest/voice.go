package livetest

import (
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"sync"
	"time"
	"unicode"
)

// SampleRate is the rate of the emulator's audio (Hz), as the real service's.
const SampleRate = 24000

// Speak is the emulator's default reply to prompt: the transcript the
// emulator sends as outputTranscription and the PCM16 24 kHz mono audio it
// streams, a few seconds of synthetic speech. It is a pure function, so a
// test can compare what arrived downstream with exactly what was sent.
func Speak(prompt string) (pcm []int16, transcript string) {
	transcript = DefaultTranscript(prompt)
	return Say(transcript), transcript
}

// DefaultTranscript is the text of the default reply to prompt.
func DefaultTranscript(prompt string) string {
	words := strings.Fields(prompt)
	if len(words) > 24 {
		words = append(words[:24], "and so on.")
	}
	if len(words) == 0 {
		return "I am here. This is the Live emulator."
	}
	return fmt.Sprintf("I am here. You said: %s This is the Live emulator.", strings.Join(words, " "))
}

// Say synthesises text as speech-like audio (PCM16, 24 kHz mono): one
// voiced syllable per vowel group, each a harmonic series shaped by two
// vowel formants, a consonant noise onset, an attack/release envelope and a
// falling pitch contour with per-word accents; pauses at word boundaries and
// punctuation. Deterministic: the same text always gives the same samples.
func Say(text string) []int16 {
	sayCache.Lock()
	pcm, ok := sayCache.m[text]
	sayCache.Unlock()
	if !ok {
		pcm = say(text)
		sayCache.Lock()
		if len(sayCache.m) >= 64 {
			clear(sayCache.m)
		}
		sayCache.m[text] = pcm
		sayCache.Unlock()
	}
	return append([]int16(nil), pcm...)
}

// sayCache memoises Say: tests speak the same few texts many times.
var sayCache = struct {
	sync.Mutex
	m map[string][]int16
}{m: map[string][]int16{}}

func say(text string) []int16 {
	var out []float64
	sentencePos := 0.0 // 0..1 through the current sentence, for declination
	sentenceLen := float64(countSyllables(text))
	if sentenceLen == 0 {
		sentenceLen = 1
	}
	syl := 0.0
	silence := func(d time.Duration) {
		out = append(out, make([]float64, int(d.Seconds()*SampleRate))...)
	}
	silence(60 * time.Millisecond)
	for _, tok := range tokenize(text) {
		switch tok {
		case ",", ";", ":":
			silence(160 * time.Millisecond)
			continue
		case ".", "?", "!":
			silence(280 * time.Millisecond)
			continue
		}
		h := hash(tok)
		for i, s := range syllables(tok) {
			sentencePos = syl / sentenceLen
			accent := 0.0
			if i == int(h%uint64(max(1, len(syllables(tok))))) {
				accent = 1
			}
			out = appendSyllable(out, s, sentencePos, accent, h+uint64(i))
			syl++
		}
		silence(time.Duration(40+h%40) * time.Millisecond)
	}
	pcm := make([]int16, len(out))
	peak := 0.0
	for _, v := range out {
		peak = math.Max(peak, math.Abs(v))
	}
	if peak == 0 {
		return pcm
	}
	g := 0.55 * 32767 / peak
	for i, v := range out {
		pcm[i] = int16(math.Round(v * g))
	}
	return pcm
}

// vowel formants (F1, F2) in Hz, roughly an adult voice.
var formants = map[rune][2]float64{
	'a': {730, 1090}, 'e': {530, 1840}, 'i': {270, 2290}, 'o': {570, 840}, 'u': {300, 870}, 'y': {400, 1900},
}

// appendSyllable synthesises one syllable s (consonants + vowel group).
func appendSyllable(out []float64, s string, pos, accent float64, seed uint64) []float64 {
	onset, vowel := splitSyllable(s)
	rng := seed | 1
	next := func() float64 { // xorshift64: deterministic noise
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return float64(int64(rng>>11))/float64(1<<52) - 1
	}
	// Consonant onset: band-limited noise burst, longer for more letters.
	if n := len(onset); n > 0 {
		ns := int(float64(SampleRate) * (0.018 + 0.012*float64(min(n, 3))))
		prev := 0.0
		for i := 0; i < ns; i++ {
			x := next()
			prev = 0.6*prev + 0.4*x
			env := math.Sin(math.Pi * float64(i) / float64(ns))
			out = append(out, 0.12*(x-prev)*env)
		}
	}
	f := formants['a']
	for _, r := range vowel {
		if v, ok := formants[r]; ok {
			f = v
			break
		}
	}
	dur := 0.11 + 0.025*float64(len(vowel)) + 0.04*float64(seed%3) // 110..210 ms
	n := int(dur * SampleRate)
	f0Start := 185 - 55*pos + 30*accent
	f0End := f0Start - 12 - 10*accent
	attack, release := int(0.025*SampleRate), int(0.045*SampleRate)
	phase := 0.0
	for i := 0; i < n; i++ {
		t := float64(i) / float64(n)
		f0 := f0Start + (f0End-f0Start)*t + 3*math.Sin(2*math.Pi*5.5*float64(i)/SampleRate) // vibrato
		phase += 2 * math.Pi * f0 / SampleRate
		// Harmonics are phase-locked to the fundamental (as in voiced
		// speech): sin(kφ) by the Chebyshev recurrence, one sin/cos per sample.
		s1, c1 := math.Sincos(phase)
		prev, cur := 0.0, s1
		v := 0.0
		for k := 1; k <= 24; k++ {
			fk := f0 * float64(k)
			if fk > 4000 {
				break
			}
			a := 1/float64(k) + 2.2/(1+sq((fk-f[0])/90)) + 1.6/(1+sq((fk-f[1])/120))
			v += a * cur
			prev, cur = cur, 2*c1*cur-prev
		}
		env := 1.0
		if i < attack {
			env = 0.5 - 0.5*math.Cos(math.Pi*float64(i)/float64(attack))
		} else if i > n-release {
			env = 0.5 - 0.5*math.Cos(math.Pi*float64(n-i)/float64(release))
		}
		out = append(out, 0.1*v*env*(0.85+0.3*accent))
	}
	return out
}

func sq(x float64) float64 { return x * x }

func isVowel(r rune) bool { return strings.ContainsRune("aeiouy", r) }

// tokenize splits text into lower-case words and punctuation marks.
func tokenize(text string) []string {
	var toks []string
	var w strings.Builder
	flush := func() {
		if w.Len() > 0 {
			toks = append(toks, w.String())
			w.Reset()
		}
	}
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'':
			w.WriteRune(r)
		case strings.ContainsRune(",;:.?!", r):
			flush()
			toks = append(toks, string(r))
		default:
			flush()
		}
	}
	flush()
	return toks
}

// syllables splits a word at vowel groups; a word without vowels (digits,
// "hmm") is one syllable.
func syllables(word string) []string {
	var out []string
	var cur []rune
	inVowel := false
	for _, r := range word {
		v := isVowel(r)
		if !v && inVowel {
			out = append(out, string(cur))
			cur = cur[:0]
		}
		inVowel = v
		cur = append(cur, r)
	}
	if len(cur) > 0 {
		if len(out) > 0 && !strings.ContainsFunc(string(cur), isVowel) {
			out[len(out)-1] += string(cur) // trailing consonants join the last syllable
		} else {
			out = append(out, string(cur))
		}
	}
	if len(out) == 0 {
		out = []string{word}
	}
	return out
}

func countSyllables(text string) int {
	n := 0
	for _, t := range tokenize(text) {
		if !strings.ContainsAny(t, ",;:.?!") {
			n += len(syllables(t))
		}
	}
	return n
}

// splitSyllable returns the consonant onset and the rest.
func splitSyllable(s string) (onset, rest string) {
	i := strings.IndexFunc(s, isVowel)
	if i < 0 {
		return "", s
	}
	return s[:i], s[i:]
}

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// Loop repeats pcm (or trims it) to exactly d of audio: a cheap way to
// script a long reply, e.g. Loop(pcm, time.Minute) for pacing tests.
func Loop(pcm []int16, d time.Duration) []int16 {
	n := int(d.Seconds() * SampleRate)
	out := make([]int16, n)
	if len(pcm) == 0 {
		return out
	}
	for i := 0; i < n; i += len(pcm) {
		copy(out[i:], pcm)
	}
	return out
}
