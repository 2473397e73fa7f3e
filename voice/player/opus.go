package player

import (
	"fmt"

	"github.com/livecord/livecord/voice/internal/opusq"
	"layeh.com/gopus"
)

// DefaultComplexity is the Opus complexity a Player uses unless
// Config.Complexity says otherwise: measured on speech against complexity 10
// (BENCHMARKS.md, section opus), 5 with the voice signal hint keeps speech's
// quality at about 0.64–0.8× the CPU.
const DefaultComplexity = opusq.DefaultComplexity

// opusEncoder is a gopus encoder set up and driven through opusq: gopus
// offers no complexity or signal setter, and its Encode allocates a
// max-size packet per call.
type opusEncoder struct{ enc *gopus.Encoder }

func newOpusEncoder(bitrate, complexity int) (*opusEncoder, error) {
	enc, err := gopus.NewEncoder(48000, 2, gopus.Audio)
	if err != nil {
		return nil, fmt.Errorf("player: opus encoder: %w", err)
	}
	enc.SetBitrate(bitrate)
	if err := opusq.SetComplexity(enc, complexity); err != nil {
		return nil, fmt.Errorf("player: %w", err)
	}
	// The player only ever speaks: the hint lets a cheap complexity pick the
	// speech modes that libopus's analysis (complexity ≥ 7 only) would.
	if err := opusq.SetSignal(enc, opusq.SignalVoice); err != nil {
		return nil, fmt.Errorf("player: %w", err)
	}
	return &opusEncoder{enc}, nil
}

// complexity reads the encoder's complexity back from libopus.
func (e *opusEncoder) complexity() int {
	c, _ := opusq.Complexity(e.enc)
	return c
}

// encode encodes one frame of interleaved stereo into out's capacity
// (≥ opusMaxPacket) and returns the packet.
func (e *opusEncoder) encode(out []byte, pcm []int16) ([]byte, error) {
	return opusq.Encode(e.enc, pcm, len(pcm)/2, out)
}
