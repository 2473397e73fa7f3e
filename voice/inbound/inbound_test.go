package inbound

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"layeh.com/gopus"
)

// TestReorderedSameOutput: packets arriving out of order (each up to 30 ms
// late, under the 40 ms depth) or twice give exactly the PCM of in-order
// arrival, with nothing concealed.
func TestReorderedSameOutput(t *testing.T) {
	pkts := stream(1, "alice", 65500, 960, encodeMono(t, phrase(t, "weather"), 960, gopus.Voip, 32000, 0))
	want := pcmOf(run(New(Config{}), pkts), 1)
	if len(want) < SampleRate {
		t.Fatalf("in-order output %d samples", len(want))
	}
	rng := rand.New(rand.NewPCG(3, 18))
	for trial := 0; trial < 20; trial++ {
		var shuffled []Packet
		for i, p := range pkts {
			if i > 0 {
				p.Arrival = p.Arrival.Add(time.Duration(rng.IntN(30)) * time.Millisecond)
			}
			shuffled = append(shuffled, p)
			if rng.IntN(10) == 0 {
				d := p
				d.Arrival = d.Arrival.Add(time.Duration(rng.IntN(100)) * time.Millisecond)
				shuffled = append(shuffled, d)
			}
		}
		slices.SortStableFunc(shuffled, func(a, b Packet) int { return a.Arrival.Compare(b.Arrival) })
		r := New(Config{})
		got := pcmOf(run(r, shuffled), 1)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: output differs from in-order (%d vs %d samples, %+v)", trial, len(got), len(want), r.Stats())
		}
		if st := r.Stats(); st.Concealed+st.FECRecovered != 0 || st.Duplicates != uint64(len(shuffled)-len(pkts)) {
			t.Fatalf("trial %d: stats %+v, %d duplicates sent", trial, st, len(shuffled)-len(pkts))
		}
	}
}

// TestLossKeepsTimeline: lost packets are concealed with frames as long as
// the packets around them (20 and 40 ms packets), so a turn's audio is as
// long as if nothing had been lost.
func TestLossKeepsTimeline(t *testing.T) {
	for _, frame := range []int{960, 1920} {
		payloads := encodeMono(t, phrase(t, "count"), frame, gopus.Audio, 48000, 0) // CELT: no FEC
		pkts := stream(7, "bob", 100, frame, payloads)
		full := pcmOf(run(New(Config{}), pkts), 7)
		rng := rand.New(rand.NewPCG(4, uint64(frame)))
		var kept []Packet
		dropped := 0
		for i, p := range pkts {
			if i > 0 && i < len(pkts)-1 && rng.IntN(8) == 0 {
				dropped++
				continue
			}
			kept = append(kept, p)
		}
		r := New(Config{})
		evs := run(r, kept)
		got := pcmOf(evs, 7)
		if len(got) != len(full) {
			t.Errorf("%d-sample packets: %d samples with %d lost, %d without", frame, len(got), dropped, len(full))
		}
		if st := r.Stats(); st.Concealed != uint64(dropped) || st.FECRecovered != 0 { // no FEC in these packets
			t.Errorf("%d-sample packets: %d dropped, stats %+v", frame, dropped, st)
		}
		if n := len(kinds(evs, Start)); n != 1 {
			t.Errorf("%d-sample packets: %d turns, want 1", frame, n)
		}
	}
}

// TestFECBeatsPLC: a stream encoded as Discord clients send it (SILK, FEC
// on, loss expected) loses every seventh packet; the lost frames rebuilt
// from the next packet's FEC data are much closer to the lossless decode
// than packet-loss concealment of the same frames.
func TestFECBeatsPLC(t *testing.T) {
	payloads := encodeMono(t, phrase(t, "weather"), 960, gopus.Voip, 24000, 20)
	pkts := stream(3, "carol", 0, 960, payloads)
	ref := pcmOf(run(New(Config{}), pkts), 3)
	var kept []Packet
	var lostAt []int
	for i, p := range pkts {
		if i%7 == 3 && i < len(pkts)-1 {
			lostAt = append(lostAt, i)
			continue
		}
		kept = append(kept, p)
	}
	measure := func(cfg Config) (float64, Stats) {
		r := New(cfg)
		got := pcmOf(run(r, kept), 3)
		if len(got) != len(ref) {
			t.Fatalf("output %d samples, lossless %d", len(got), len(ref))
		}
		// SNR over the lost frames (and the next, where a concealment's
		// error carries over), against the lossless decode.
		var a, b []int16
		for _, i := range lostAt {
			lo, hi := i*ChunkSamples, min((i+2)*ChunkSamples, len(ref))
			a, b = append(a, ref[lo:hi]...), append(b, got[lo:hi]...)
		}
		return snr(a, b), r.Stats()
	}
	fec, fst := measure(Config{})
	plc, pst := measure(Config{noFEC: true})
	t.Logf("lost %d frames: FEC %.1f dB SNR, PLC %.1f dB (stats %+v / %+v)", len(lostAt), fec, plc, fst, pst)
	if fst.FECRecovered+fst.Concealed != uint64(len(lostAt)) || fst.FECRecovered < uint64(len(lostAt))*3/4 || pst.Concealed != uint64(len(lostAt)) {
		t.Fatalf("FEC run recovered %d, PLC run concealed %d, %d lost", fst.FECRecovered, pst.Concealed, len(lostAt))
	}
	if fec < plc+6 {
		t.Errorf("FEC %.1f dB is not clearly better than PLC %.1f dB", fec, plc)
	}
}
