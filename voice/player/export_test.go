package player

import (
	"cmp"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/livecord/livecord/voice/internal/wire"
)

// LatenessSamples returns the player's recent per-packet lateness (tests and
// benchmarks aggregate them across players).
func LatenessSamples(p *Player) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]time.Duration, len(p.stats.lateness))
	for i, u := range p.stats.lateness {
		out[i] = time.Duration(u) * latenessUnit
	}
	return out
}

// EncoderComplexity is the complexity libopus reports for p's encoder
// (0 while it has none: an idle player).
func EncoderComplexity(p *Player) int {
	p.encMu.Lock()
	defer p.encMu.Unlock()
	if p.enc == nil {
		return 0
	}
	return p.enc.complexity()
}

// EncodeCost is libopus's thread CPU time per 20 ms frame for pcm (48 kHz
// interleaved stereo, whole frames used) through an encoder set up exactly
// as a Player's with cfg's bitrate and complexity (defaults applied): the
// reference the streams benchmark is judged against. The median of passes.
func EncodeCost(pcm []int16, cfg Config, passes int) (time.Duration, error) {
	cfg.Bitrate = cmp.Or(cfg.Bitrate, 64000)
	cfg.Complexity = cmp.Or(cfg.Complexity, DefaultComplexity)
	enc, err := newOpusEncoder(cfg.Bitrate, cfg.Complexity)
	if err != nil {
		return 0, err
	}
	frames := len(pcm) / (2 * wire.FrameSamples)
	out := make([]byte, 0, opusMaxPacket)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	per := make([]time.Duration, passes)
	for i := range per {
		t0 := threadCPU()
		for f := range frames {
			if _, err := enc.encode(out, pcm[f*2*wire.FrameSamples:(f+1)*2*wire.FrameSamples]); err != nil {
				return 0, err
			}
		}
		per[i] = (threadCPU() - t0) / time.Duration(frames)
	}
	slices.Sort(per)
	return per[len(per)/2], nil
}

// threadCPU is the calling thread's CPU time: unlike wall time it does not
// count what other processes on the shared box took meanwhile.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err) // cannot fail on Linux
	}
	return time.Duration(ts.Nano())
}
