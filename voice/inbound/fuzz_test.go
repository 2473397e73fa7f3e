package inbound

import (
	"testing"
	"time"

	"layeh.com/gopus"
)

// FuzzInbound drives a Receiver with arbitrary sequences of packets (valid
// Opus, garbage, duplicates, any sequence numbers and arrival times), ticks,
// leaves and closes. It must never panic, and must keep its invariants:
// bounded speakers and buffers, whole chunks, audio only inside a turn,
// every turn started once and ended once.
func FuzzInbound(f *testing.F) {
	valid := encodeMono(f, phrase(f, "count")[:48000], 960, gopus.Voip, 24000, 20)
	valid = append(valid, encodeMono(f, tone(48000, 440, 8000, 48000), 1920, gopus.Audio, 64000, 0)...)
	valid = append(valid, silenceFrame, []byte{0x08}, []byte{0xfc, 0xff})
	f.Add([]byte{0, 0, 1, 20, 0, 1, 1, 20, 1, 100})
	f.Add([]byte{0, 0, 1, 20, 0, 0, 3, 20, 0, 0, 2, 20, 3, 0, 1, 50, 2, 0})
	f.Add([]byte{0, 1, 200, 0, 0, 1, 201, 0, 4, 0, 5, 0, 0, 2, 127, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		cfg := Config{MaxSpeakers: 3, MaxTurn: 2 * time.Second, IdleTimeout: 5 * time.Second}
		r := New(cfg)
		now := t0
		seqs := map[uint32]uint16{}
		inTurn := map[uint32]bool{}
		var last Packet
		var evs []Event
		check := func() {
			t.Helper()
			for _, e := range evs {
				switch e.Kind {
				case Start:
					if inTurn[e.SSRC] {
						t.Fatalf("ssrc %d started twice", e.SSRC)
					}
					inTurn[e.SSRC] = true
				case Audio, Onset:
					if !inTurn[e.SSRC] {
						t.Fatalf("ssrc %d: %v outside a turn", e.SSRC, e.Kind)
					}
					if e.Kind == Audio && (len(e.PCM) == 0 || len(e.PCM) > ChunkSamples) {
						t.Fatalf("chunk of %d samples", len(e.PCM))
					}
				case End:
					if !inTurn[e.SSRC] {
						t.Fatalf("ssrc %d ended outside a turn", e.SSRC)
					}
					inTurn[e.SSRC] = false
				}
			}
			evs = evs[:0]
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.speakers) > r.cfg.MaxSpeakers {
				t.Fatalf("%d speakers", len(r.speakers))
			}
			for _, sp := range r.speakers {
				if sp.jb.held > window || len(sp.pend) >= ChunkSamples {
					t.Fatalf("speaker %d: %d held, %d pending", sp.ssrc, sp.jb.held, len(sp.pend))
				}
				for _, s := range sp.jb.slots {
					if cap(s.payload) > 2*maxPayload {
						t.Fatalf("payload buffer of %d bytes", cap(s.payload))
					}
				}
			}
		}
		for len(ops) >= 2 {
			op, arg := ops[0], ops[1]
			ops = ops[2:]
			switch op % 7 {
			case 0, 1: // a packet: ssrc, sequence step, payload, time step
				if len(ops) < 2 {
					return
				}
				ssrc := uint32(arg % 5)
				seqs[ssrc] += uint16(int8(ops[0]))
				var payload []byte
				if op%7 == 0 {
					payload = valid[int(ops[1])%len(valid)]
				} else {
					payload = ops[:min(len(ops), int(ops[1])%80)]
				}
				now = now.Add(time.Duration(ops[1]%40) * time.Millisecond)
				ops = ops[2:]
				last = Packet{SSRC: ssrc, UserID: string(rune('a' + ssrc%4)), Sequence: seqs[ssrc], Timestamp: uint32(seqs[ssrc]) * 960, Opus: payload, Arrival: now}
				evs = r.Packet(evs, last)
			case 2:
				now = now.Add(time.Duration(arg) * 10 * time.Millisecond)
				evs = r.Tick(evs, now)
			case 3:
				evs = r.Leave(evs, now, string(rune('a'+arg%4)))
			case 4:
				if d := r.Deadline(); !d.IsZero() {
					if d.After(now) {
						now = d
					}
					evs = r.Tick(evs, now)
				}
			case 5:
				last.Arrival = now
				evs = r.Packet(evs, last) // a duplicate
			case 6:
				if arg == 0 {
					evs = r.Close(evs, now)
				} else { // time going backwards must be harmless too
					now = now.Add(-time.Duration(arg) * time.Millisecond)
				}
			}
			check()
		}
		evs = r.Close(evs, now)
		check()
		for ssrc, on := range inTurn {
			if on {
				t.Fatalf("ssrc %d still in a turn after Close", ssrc)
			}
		}
	})
}
