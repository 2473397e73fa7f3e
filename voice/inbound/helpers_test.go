package inbound

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"layeh.com/gopus"

	"github.com/livecord/livecord/audio/speech"
	"github.com/livecord/livecord/voice/inbound/internal/opusfec"
)

// t0 is the tests' clock origin; arrival times are t0 plus stream time.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// encodeMono encodes 48 kHz mono PCM (duplicated to stereo, as Discord
// clients send) into Opus packets of frame samples each.
func encodeMono(t testing.TB, pcm []int16, frame int, app gopus.Application, bitrate, fecLoss int) [][]byte {
	t.Helper()
	enc, err := gopus.NewEncoder(48000, 2, app)
	if err != nil {
		t.Fatal(err)
	}
	enc.SetBitrate(bitrate)
	if fecLoss > 0 {
		if err := opusfec.Enable(enc, fecLoss); err != nil {
			t.Fatal(err)
		}
	}
	st := make([]int16, 2*frame)
	var out [][]byte
	for off := 0; off < len(pcm); off += frame {
		clear(st)
		for i := 0; i < frame && off+i < len(pcm); i++ {
			st[2*i], st[2*i+1] = pcm[off+i], pcm[off+i]
		}
		p, err := enc.Encode(st, frame, 4000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// stream makes the packets of one speaker, frame samples apart in time.
func stream(ssrc uint32, user string, seq0 uint16, frame int, payloads [][]byte) []Packet {
	ps := make([]Packet, len(payloads))
	for i, p := range payloads {
		ps[i] = Packet{
			SSRC: ssrc, UserID: user,
			Sequence:  seq0 + uint16(i),
			Timestamp: uint32(i * frame),
			Opus:      p,
			// A frame is sent when its audio is complete.
			Arrival: t0.Add(time.Duration(i+1) * time.Duration(frame) * time.Second / 48000),
		}
	}
	return ps
}

// run feeds packets in the order given, ticking every 10 ms of their
// arrival times, then ticks until everything has ended.
func run(r *Receiver, ps []Packet) []Event {
	var evs []Event
	var tick time.Time
	for _, p := range ps {
		for !tick.IsZero() && tick.Before(p.Arrival) {
			evs = r.Tick(evs, tick)
			tick = tick.Add(10 * time.Millisecond)
		}
		if tick.IsZero() {
			tick = p.Arrival
		}
		evs = r.Packet(evs, p)
	}
	end := tick.Add(r.cfg.PauseGap + r.cfg.MaxDepth + 20*time.Millisecond)
	for ; !tick.After(end); tick = tick.Add(10 * time.Millisecond) {
		evs = r.Tick(evs, tick)
	}
	return evs
}

// pcmOf concatenates the audio of events of kind Audio for ssrc.
func pcmOf(evs []Event, ssrc uint32) []int16 {
	var out []int16
	for _, e := range evs {
		if e.Kind == Audio && e.SSRC == ssrc {
			out = append(out, e.PCM...)
		}
	}
	return out
}

func kinds(evs []Event, k Kind) []Event {
	var out []Event
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func phrase(t testing.TB, name string) []int16 {
	t.Helper()
	p, err := speech.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return p.PCM
}

func tone(n int, hz, amp float64, rate int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
	}
	return out
}

func whiteNoise(rng *rand.Rand, n int, rms float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = clamp16(rng.NormFloat64() * rms)
	}
	return out
}

func clamp16(v float64) int16 {
	return int16(max(-32768, min(32767, math.Round(v))))
}

// snr returns 10·log10(Σref² / Σ(ref−x)²) over the common length.
func snr(ref, x []int16) float64 {
	var s, n float64
	for i := range min(len(ref), len(x)) {
		d := float64(ref[i]) - float64(x[i])
		s += float64(ref[i]) * float64(ref[i])
		n += d * d
	}
	if n == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(s/n)
}
