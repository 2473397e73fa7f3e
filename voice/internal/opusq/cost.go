package opusq

import (
	"fmt"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
	"layeh.com/gopus"
)

const (
	// FrameSamples is one 20 ms frame at 48 kHz, per channel.
	FrameSamples = 960
	// FramePeriod is the time one frame plays for: one stream's budget.
	FramePeriod = 20 * time.Millisecond
	// maxPacket is the largest Opus packet asked for (as the player does).
	maxPacket = 1500
)

// DefaultComplexity is the complexity chosen from the measurements in
// BENCHMARKS.md (section "opus"), to be used with SignalVoice: the knee
// where encoding costs 0.6–0.8× complexity 10 (libopus's default 9 costs
// and sounds the same as 10) and speech loses at most 0.5 dB of band
// distortion. Below 5 CELT's pitch pre-filter is off and quality drops;
// without SignalVoice, below 7 the low-bitrate speech modes are lost.
const DefaultComplexity = 5

// ThreadCPU returns the CPU time the calling OS thread has used. Callers
// lock the goroutine to its thread (runtime.LockOSThread) around the span
// they measure. Unlike wall time it does not count time the thread waited
// while other work (other helpers' builds, the scheduler) ran.
func ThreadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(fmt.Sprintf("opusq: clock_gettime: %v", err)) // cannot fail on Linux
	}
	return time.Duration(ts.Nano())
}

// EncodeCost measures what libopus costs per 20 ms frame here and now: the
// thread CPU time of encoding pcm (48 kHz interleaved stereo, as the player
// encodes it; whole frames are used) with a fresh encoder set up as the
// player should be (application Audio, bitrate in bit/s, complexity,
// SignalVoice), taken as the median of passes runs over all of pcm. A few
// seconds of speech and 3 passes take well under a second.
func EncodeCost(pcm []int16, bitrate, complexity, passes int) (time.Duration, error) {
	frames := len(pcm) / (2 * FrameSamples)
	if frames == 0 || passes < 1 {
		return 0, fmt.Errorf("opusq: encode cost: %d frames × %d passes", frames, passes)
	}
	enc, err := gopus.NewEncoder(48000, 2, gopus.Audio)
	if err != nil {
		return 0, fmt.Errorf("opusq: encode cost: %w", err)
	}
	enc.SetBitrate(bitrate)
	if err := SetComplexity(enc, complexity); err != nil {
		return 0, fmt.Errorf("opusq: encode cost: %w", err)
	}
	if err := SetSignal(enc, SignalVoice); err != nil {
		return 0, fmt.Errorf("opusq: encode cost: %w", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	per := make([]time.Duration, passes)
	for p := range per {
		t0 := ThreadCPU()
		for f := range frames {
			if _, err := enc.Encode(pcm[f*2*FrameSamples:(f+1)*2*FrameSamples], FrameSamples, maxPacket); err != nil {
				return 0, fmt.Errorf("opusq: encode cost: frame %d: %w", f, err)
			}
		}
		per[p] = (ThreadCPU() - t0) / time.Duration(frames)
	}
	slices.Sort(per)
	return per[len(per)/2], nil
}

// Floor is the most streams one core can encode in real time at the given
// per-frame cost: FramePeriod / cost. It is the physical limit that
// BenchmarkConcurrentStreams' stream counts are judged against (a run's
// fraction of the floor is streams / Floor(cost of that same run)).
func Floor(cost time.Duration) float64 {
	if cost <= 0 {
		return 0
	}
	return float64(FramePeriod) / float64(cost)
}
