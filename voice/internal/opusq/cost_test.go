package opusq_test

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/livecord/livecord/voice/internal/opusq"
	"layeh.com/gopus"
)

func TestFloor(t *testing.T) {
	for _, tc := range []struct {
		cost time.Duration
		want float64
	}{{100 * time.Microsecond, 200}, {125 * time.Microsecond, 160}, {20 * time.Millisecond, 1}, {0, 0}, {-time.Microsecond, 0}} {
		if got := opusq.Floor(tc.cost); got != tc.want {
			t.Errorf("Floor(%v) = %v, want %v", tc.cost, got, tc.want)
		}
	}
}

// TestEncodeCost checks EncodeCost against the benchmark's own way of
// timing (thread CPU around each frame) in the same run: the two measure
// the same work, so they agree within a factor that only a wildly loaded
// core could break.
func TestEncodeCost(t *testing.T) {
	in := stereo(synthetic(t))
	if _, err := opusq.EncodeCost(in[:100], 64000, 5, 3); err == nil {
		t.Error("EncodeCost of less than a frame succeeded")
	}
	if _, err := opusq.EncodeCost(in, 64000, 11, 3); err == nil {
		t.Error("EncodeCost at complexity 11 succeeded")
	}
	cost, err := opusq.EncodeCost(in, 64000, opusq.DefaultComplexity, 3)
	if err != nil {
		t.Fatal(err)
	}
	enc := newEncoder(t, 64000, opusq.DefaultComplexity)
	runtimeLock(t)
	frames := len(in) / (2 * opusq.FrameSamples)
	var sum time.Duration
	for f := range frames {
		t0 := opusq.ThreadCPU()
		if _, err := enc.Encode(in[f*2*opusq.FrameSamples:(f+1)*2*opusq.FrameSamples], opusq.FrameSamples, 1500); err != nil {
			t.Fatal(err)
		}
		sum += opusq.ThreadCPU() - t0
	}
	each := sum / time.Duration(frames)
	t.Logf("EncodeCost %v, per-frame timing %v, floor %.0f streams", cost, each, opusq.Floor(cost))
	if cost <= 0 || float64(cost) > 3*float64(each) || float64(each) > 3*float64(cost) {
		t.Errorf("EncodeCost %v and per-frame timing %v disagree", cost, each)
	}
}

// BenchmarkEncodeFrame is libopus's cost per 20 ms frame (48 kHz, 64 kb/s,
// the synthetic voice) in thread CPU time: today's player setting (stereo,
// libopus's default complexity 9), the measured default, and the default
// with a mono encoder (the voice is mono; a stereo decoder plays a mono
// Opus stream on both channels). The build-flag comparison (buildflags.sh)
// runs it in binaries built with different CGO_CFLAGS and logs a digest of
// the packets, which must not change. floor-streams is Floor of the same
// figure: the streams one core could encode at that setting.
func BenchmarkEncodeFrame(b *testing.B) {
	mono := synthetic(b)
	for _, tc := range []struct {
		name       string
		channels   int
		complexity int
		sig        opusq.Signal
	}{
		{"c=9", 2, 9, opusq.SignalAuto},
		{fmt.Sprintf("c=%d+voice", opusq.DefaultComplexity), 2, opusq.DefaultComplexity, opusq.SignalVoice},
		{fmt.Sprintf("c=%d+voice+mono", opusq.DefaultComplexity), 1, opusq.DefaultComplexity, opusq.SignalVoice},
	} {
		b.Run(tc.name, func(b *testing.B) {
			in := mono
			if tc.channels == 2 {
				in = stereo(mono)
			}
			step := tc.channels * opusq.FrameSamples
			frames := len(in) / step
			enc, err := gopus.NewEncoder(48000, tc.channels, gopus.Audio)
			if err != nil {
				b.Fatal(err)
			}
			enc.SetBitrate(64000)
			if err := opusq.SetComplexity(enc, tc.complexity); err != nil {
				b.Fatal(err)
			}
			if err := opusq.SetSignal(enc, tc.sig); err != nil {
				b.Fatal(err)
			}
			h := sha256.New()
			runtimeLock(b)
			t0 := opusq.ThreadCPU()
			i := 0
			for b.Loop() {
				f := i % frames
				pkt, err := enc.Encode(in[f*step:(f+1)*step], opusq.FrameSamples, 1500)
				if err != nil {
					b.Fatal(err)
				}
				if i < frames {
					h.Write(pkt)
				}
				i++
			}
			cost := (opusq.ThreadCPU() - t0) / time.Duration(i)
			b.ReportMetric(float64(cost.Nanoseconds())/1000, "encode-us/frame")
			b.ReportMetric(opusq.Floor(cost), "floor-streams")
			if i >= frames {
				b.Logf("digest of the clip's %d packets: %x", frames, h.Sum(nil)[:8])
			}
		})
	}
}
