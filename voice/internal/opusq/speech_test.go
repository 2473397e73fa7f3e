package opusq_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os/exec"
	"sync"
	"testing"

	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/resample"
)

// prompt makes livetest.Speak say about 14 seconds of synthetic speech.
const prompt = "tell me how the weather will change over the weekend near the coast and whether I should bring a coat to the harbour festival on Sunday"

// espeakText is read by espeak-ng when it is installed (apt-get install
// espeak-ng): a second, independently made voice with real phonemes.
const espeakText = "The quick brown fox jumps over the lazy dog. " +
	"Opus encodes speech in twenty millisecond frames, and every frame we save is another voice we can carry. " +
	"Would you like to hear the forecast for tomorrow?"

// source is a speech clip as the player encodes it: 48 kHz mono.
type source struct {
	name string
	pcm  func(testing.TB) []int16
}

var sources = []source{{"synthetic", synthetic}, {"espeak", espeak}}

var synthOnce = sync.OnceValue(func() []int16 {
	pcm, _ := livetest.Speak(prompt)
	rs, err := resample.New(livetest.SampleRate, 48000, 1)
	if err != nil {
		panic(err)
	}
	out := rs.Process(nil, pcm)
	return rs.Flush(out)
})

// synthetic is the Live emulator's voice for prompt, resampled to 48 kHz
// with the resampler the player uses.
func synthetic(testing.TB) []int16 { return synthOnce() }

type espeakResult struct {
	pcm []int16
	err error
}

var espeakOnce = sync.OnceValue(func() espeakResult {
	path, err := exec.LookPath("espeak-ng")
	if err != nil {
		return espeakResult{err: err}
	}
	wav, err := exec.Command(path, "--stdout", "-s", "160", espeakText).Output()
	if err != nil {
		return espeakResult{err: err}
	}
	pcm, rate, err := parseWAV(wav)
	if err != nil {
		return espeakResult{err: err}
	}
	return espeakResult{pcm: resampleTo48k(pcm, rate)}
})

// espeak renders espeakText with espeak-ng, or skips when it is missing.
func espeak(tb testing.TB) []int16 {
	r := espeakOnce()
	if r.err != nil {
		tb.Skipf("espeak-ng speech unavailable (apt-get install espeak-ng): %v", r.err)
	}
	return r.pcm
}

// parseWAV reads the mono 16-bit PCM WAV espeak-ng writes to stdout (its
// size fields are left at 0 or -1 when streaming, so the data chunk runs to
// the end).
func parseWAV(b []byte) ([]int16, int, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, errors.New("not a WAV file")
	}
	var rate int
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		body := b[p+8:]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, 0, errors.New("short fmt chunk")
			}
			format, ch, bits := binary.LittleEndian.Uint16(body), binary.LittleEndian.Uint16(body[2:]), binary.LittleEndian.Uint16(body[14:])
			if format != 1 || ch != 1 || bits != 16 {
				return nil, 0, errors.New("want 16-bit mono PCM")
			}
			rate = int(binary.LittleEndian.Uint32(body[4:]))
		case "data":
			if rate == 0 {
				return nil, 0, errors.New("data before fmt")
			}
			if size <= 0 || size > len(body) {
				size = len(body)
			}
			pcm := make([]int16, size/2)
			binary.Read(bytes.NewReader(body[:size/2*2]), binary.LittleEndian, pcm)
			return pcm, rate, nil
		}
		if size < 0 || p+8+size > len(b) {
			break
		}
		p += 8 + size + size&1
	}
	return nil, 0, errors.New("no data chunk")
}

// resampleTo48k converts espeak-ng's 22.05 kHz (a rate the project's
// resampler does not take) with a Hann-windowed sinc, 32 taps a side,
// cut off just below the input's Nyquist frequency. Only the codec
// comparison needs it: every complexity gets the same 48 kHz input.
func resampleTo48k(in []int16, rate int) []int16 {
	const half = 32
	const cut = 0.95
	g := gcd(rate, 48000)
	up, down := 48000/g, rate/g
	// Output i sits at input position i·down/up; its fractional part takes
	// one of up values, so the kernels are computed once per phase.
	kernels := make([][2 * half]float64, up)
	for p := range kernels {
		frac := float64(p) / float64(up)
		for j := range 2 * half {
			x := frac + float64(half-1-j) // distance from tap c-half+1+j
			w := 0.5 + 0.5*math.Cos(math.Pi*x/half)
			s := cut
			if x != 0 {
				s = math.Sin(math.Pi*cut*x) / (math.Pi * x)
			}
			kernels[p][j] = s * w
		}
	}
	out := make([]int16, len(in)*up/down)
	for i := range out {
		c, p := i*down/up, i*down%up
		var acc float64
		for j, h := range kernels[p] {
			if k := c - half + 1 + j; k >= 0 && k < len(in) {
				acc += float64(in[k]) * h
			}
		}
		out[i] = int16(max(-32768, min(32767, math.Round(acc))))
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func stereo(mono []int16) []int16 {
	out := make([]int16, 2*len(mono))
	for i, v := range mono {
		out[2*i], out[2*i+1] = v, v
	}
	return out
}
