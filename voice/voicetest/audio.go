package voicetest

import (
	"fmt"
	"math"

	"github.com/livecord/livecord/voice/internal/wire"

	"layeh.com/gopus"
)

// DecodeOpus decodes 20 ms frames of 48 kHz stereo Opus, as a listener's
// client does, and returns the left channel. A frame that does not decode
// becomes 20 ms of silence and is counted in bad.
func DecodeOpus(frames [][]byte) (pcm []float64, bad int, err error) {
	dec, err := gopus.NewDecoder(48000, 2)
	if err != nil {
		return nil, 0, fmt.Errorf("voicetest: opus decoder: %w", err)
	}
	for _, f := range frames {
		out, err := dec.Decode(f, wire.FrameSamples, false)
		if err != nil {
			bad++
			out = make([]int16, 2*wire.FrameSamples)
		}
		for i := 0; i < len(out); i += 2 {
			pcm = append(pcm, float64(out[i]))
		}
	}
	return pcm, bad, nil
}

// AlignLag returns how many samples got lags want (0..maxLag): the lag with
// the highest correlation over want's first second, which is enough to align
// a codec's delay and cheap under -race.
func AlignLag(want, got []float64, maxLag int) (lag int) {
	best := math.Inf(-1)
	n := min(len(want), 48000)
	for l := 0; l <= maxLag && l < len(got); l++ {
		var c float64
		for i := 0; i < n && i+l < len(got); i++ {
			c += want[i] * got[i+l]
		}
		if c > best {
			best, lag = c, l
		}
	}
	return lag
}

// SNR is the signal-to-noise ratio in dB of got against want, got lagging
// by lag samples.
func SNR(want, got []float64, lag int) float64 {
	var sig, noise float64
	for i := 0; i < len(want) && i+lag < len(got); i++ {
		d := want[i] - got[i+lag]
		sig += want[i] * want[i]
		noise += d * d
	}
	return 10 * math.Log10(sig/noise)
}

// AlignedSNR aligns got to want (AlignLag) and returns the SNR at that lag.
func AlignedSNR(want, got []float64, maxLag int) (snr float64, lag int) {
	lag = AlignLag(want, got, maxLag)
	return SNR(want, got, lag), lag
}
