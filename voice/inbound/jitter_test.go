package inbound

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// out is what a jitter buffer released: a packet's sequence number, or a
// loss (-1 - the lost frame's index) and whether FEC could rebuild it.
type released struct {
	seq  uint16
	act  action
	from uint16 // actFEC: the packet whose FEC data is used
}

func drainJitter(j *jitter, now time.Time, force bool, out []released) []released {
	for {
		act, p, _ := j.pop(now, force)
		switch act {
		case actNone:
			return out
		case actPlay:
			out = append(out, released{seq: binary.BigEndian.Uint16(p), act: act})
		case actFEC:
			out = append(out, released{act: act, from: binary.BigEndian.Uint16(p)})
		case actPLC:
			out = append(out, released{act: act})
		}
	}
}

func seqPayload(s uint16) []byte { return binary.BigEndian.AppendUint16(nil, s) }

// TestJitterPermutationProperty: any delivery order in which no packet is
// displaced by more than maxHeld-1 places, with any duplicates, releases
// exactly the in-order sequence, with no loss. (The packet that arrives
// first starts the stream: one reordered before it is dropped.)
func TestJitterPermutationProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 18))
	for trial := 0; trial < 2000; trial++ {
		n := 1 + rng.IntN(200)
		seq0 := uint16(rng.IntN(1 << 16)) // wraps in many trials
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		// Displace each packet by a bounded amount: sort by i + jitter.
		maxDisp := rng.IntN(maxHeld)
		key := make([]float64, n)
		for i := range key {
			key[i] = float64(i) + rng.Float64()*float64(maxDisp)
		}
		key[0] = -1 // the first packet to arrive starts the stream
		slices.SortFunc(order, func(a, b int) int {
			if key[a] < key[b] {
				return -1
			}
			return 1
		})
		// Duplicate some, delivered again a little later.
		var deliver []int
		for k, i := range order {
			deliver = append(deliver, i)
			if rng.IntN(8) == 0 {
				deliver = append(deliver, order[max(0, k-rng.IntN(3))])
			}
		}
		j := newJitter(defaultDepth, defaultMaxDepth)
		var got []released
		now := t0
		for _, i := range deliver {
			s := seq0 + uint16(i)
			j.push(s, seqPayload(s), 960, now)
			got = drainJitter(&j, now, false, got)
		}
		got = drainJitter(&j, now, true, got)
		if len(got) != n {
			t.Fatalf("trial %d: released %d, want %d (max displacement %d)", trial, len(got), n, maxDisp)
		}
		for i, r := range got {
			if r.act != actPlay || r.seq != seq0+uint16(i) {
				t.Fatalf("trial %d: release %d is %+v, want seq %d", trial, i, r, seq0+uint16(i))
			}
		}
	}
}

// TestJitterLossProperty: with packets missing, every missing frame is
// reported once, in place; as FEC from its successor when that arrived.
func TestJitterLossProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 18))
	for trial := 0; trial < 2000; trial++ {
		n := 2 + rng.IntN(100)
		seq0 := uint16(rng.IntN(1 << 16))
		lost := make([]bool, n)
		for i := 1; i < n-1; i++ { // the first and last arrive: they bound the stream
			lost[i] = rng.IntN(4) == 0
		}
		j := newJitter(defaultDepth, defaultMaxDepth)
		var got []released
		for i := 0; i < n; i++ {
			now := t0.Add(time.Duration(i) * 20 * time.Millisecond)
			got = drainJitter(&j, now, false, got)
			if !lost[i] {
				s := seq0 + uint16(i)
				j.push(s, seqPayload(s), 960, now)
				got = drainJitter(&j, now, false, got)
			}
		}
		got = drainJitter(&j, t0.Add(time.Hour), false, got)
		if len(got) != n {
			t.Fatalf("trial %d: released %d, want %d", trial, len(got), n)
		}
		for i, r := range got {
			s := seq0 + uint16(i)
			switch {
			case !lost[i]:
				if r.act != actPlay || r.seq != s {
					t.Fatalf("trial %d: release %d is %+v, want packet %d", trial, i, r, s)
				}
			case !lost[i+1]:
				if r.act != actFEC || r.from != s+1 {
					t.Fatalf("trial %d: release %d is %+v, want FEC from %d", trial, i, r, s+1)
				}
			default:
				if r.act != actPLC {
					t.Fatalf("trial %d: release %d is %+v, want PLC", trial, i, r)
				}
			}
		}
	}
}

func TestJitterWaitsDepthThenAdapts(t *testing.T) {
	j := newJitter(defaultDepth, defaultMaxDepth)
	j.push(10, seqPayload(10), 960, t0)
	if got := drainJitter(&j, t0, false, nil); len(got) != 1 {
		t.Fatalf("in-order packet not released at once: %v", got)
	}
	at := t0.Add(20 * time.Millisecond)
	j.push(12, seqPayload(12), 960, at) // 11 missing
	if got := drainJitter(&j, at.Add(defaultDepth-time.Millisecond), false, nil); len(got) != 0 {
		t.Fatalf("gave up before the depth: %v", got)
	}
	if d := j.deadline(); !d.Equal(at.Add(defaultDepth)) {
		t.Fatalf("deadline %v, want %v", d.Sub(t0), at.Add(defaultDepth).Sub(t0))
	}
	got := drainJitter(&j, at.Add(defaultDepth), false, nil)
	if len(got) != 2 || got[0].act != actFEC || got[1].seq != 12 {
		t.Fatalf("after the depth: %v", got)
	}
	// 11 turns up now: late, and the buffer waits longer from now on.
	if r := j.push(11, seqPayload(11), 960, at.Add(50*time.Millisecond)); r != pushLate {
		t.Fatalf("late packet: %v", r)
	}
	if j.depth != defaultDepth+depthStep {
		t.Fatalf("depth %v after a late packet, want %v", j.depth, defaultDepth+depthStep)
	}
	for i := 0; i < 10; i++ {
		j.push(11, seqPayload(11), 960, at)
	}
	if j.depth != defaultMaxDepth {
		t.Fatalf("depth %v, want capped at %v", j.depth, defaultMaxDepth)
	}
	// Quiet for a while: back down a step per depthDecay.
	later := at.Add(depthDecay + time.Second)
	j.push(13, seqPayload(13), 960, later)
	drainJitter(&j, later, false, nil)
	if j.depth != defaultMaxDepth-depthStep {
		t.Fatalf("depth %v after %v without late packets, want %v", j.depth, depthDecay, defaultMaxDepth-depthStep)
	}
	// A duplicate of a released packet is a duplicate, not late.
	if r := j.push(13, seqPayload(13), 960, later); r != pushDuplicate {
		t.Fatalf("duplicate: %v", r)
	}
}

func TestJitterRestart(t *testing.T) {
	j := newJitter(defaultDepth, defaultMaxDepth)
	j.push(100, seqPayload(100), 960, t0)
	drainJitter(&j, t0, false, nil)
	if r := j.push(100+window+1, nil, 960, t0); r != pushRestart {
		t.Fatalf("far ahead: %v", r)
	}
	// Far behind: one stray is late; two consecutive are a restart.
	if r := j.push(10, nil, 960, t0); r != pushLate {
		t.Fatalf("stray: %v", r)
	}
	if r := j.push(11, nil, 960, t0); r != pushRestart {
		t.Fatalf("restart behind: %v", r)
	}
}
