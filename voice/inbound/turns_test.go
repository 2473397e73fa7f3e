package inbound

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"layeh.com/gopus"

	"github.com/livecord/livecord/resample"
)

var silenceFrame = []byte{0xf8, 0xff, 0xfe}

// TestPauseEndsTurn: a turn ends PauseGap after the last voice packet (to
// the tick), silence frames neither start a turn nor postpone its end, and
// the next packets start a new turn whose audio is complete.
func TestPauseEndsTurn(t *testing.T) {
	voice := encodeMono(t, phrase(t, "hello"), 960, gopus.Voip, 32000, 0)
	var payloads [][]byte
	payloads = append(payloads, silenceFrame, silenceFrame) // before any speech
	payloads = append(payloads, voice...)
	for range 5 { // what a client sends when it stops
		payloads = append(payloads, silenceFrame)
	}
	pkts := stream(4, "frank", 10, 960, payloads)
	lastVoice := pkts[len(pkts)-6].Arrival
	// The second turn: same stream, resumed 2 s later.
	second := stream(4, "frank", 10+uint16(len(pkts)), 960, voice)
	for i := range second {
		second[i].Arrival = second[i].Arrival.Add(pkts[len(pkts)-1].Arrival.Sub(t0) + 2*time.Second)
	}
	r := New(Config{})
	evs := run(r, slices.Concat(pkts, second))

	var seq []Kind
	for _, e := range evs {
		if e.Kind != Audio && e.Kind != Onset {
			seq = append(seq, e.Kind)
		}
	}
	if !slices.Equal(seq, []Kind{Start, End, Start, End}) {
		t.Fatalf("events %v, want start, end, start, end", seq)
	}
	ends := kinds(evs, End)
	if ends[0].Reason != Paused {
		t.Errorf("end reason %v", ends[0].Reason)
	}
	if d := ends[0].At.Sub(lastVoice); d < r.cfg.PauseGap || d >= r.cfg.PauseGap+10*time.Millisecond {
		t.Errorf("turn ended %v after the last voice packet, want PauseGap %v (+ one 10 ms tick)", d, r.cfg.PauseGap)
	}
	// Turn 1: the voice packets plus the five trailing silence frames,
	// plus the resampler's tail; none of the leading silence.
	var turn1 []int16
	for _, e := range evs {
		if e.Kind == Audio && !e.At.After(ends[0].At) {
			turn1 = append(turn1, e.PCM...)
		}
	}
	want := (len(voice)+5)*ChunkSamples + (New(Config{}).speakerFlushLen())
	if len(turn1) != want {
		t.Errorf("first turn %d samples, want %d", len(turn1), want)
	}
	if st := r.Stats(); st.Turns != 2 || st.Frames != uint64(len(pkts)+len(second)) {
		t.Errorf("stats %+v", st)
	}
}

// speakerFlushLen is how many samples a turn's end adds: the resampler's
// filter tail, beyond the 320 samples a 20 ms frame yields.
func (r *Receiver) speakerFlushLen() int {
	rs, err := resample.New(48000, SampleRate, 1)
	if err != nil {
		panic(err)
	}
	return len(rs.Flush(rs.Process(nil, make([]int16, 960)))) - ChunkSamples
}

// TestMaxTurnCaps: a speaker who never pauses is cut at MaxTurn, unheard
// until they pause, then heard again.
func TestMaxTurnCaps(t *testing.T) {
	pcm := tone(48000*3, 200, 6000, 48000)
	payloads := encodeMono(t, pcm, 960, gopus.Voip, 32000, 0)
	pkts := stream(5, "gina", 0, 960, payloads)
	later := stream(5, "gina", uint16(len(pkts)), 960, payloads[:50])
	for i := range later {
		later[i].Arrival = later[i].Arrival.Add(4 * time.Second)
	}
	r := New(Config{MaxTurn: time.Second})
	evs := run(r, slices.Concat(pkts, later))
	ends := kinds(evs, End)
	if len(ends) != 2 || ends[0].Reason != Capped || ends[1].Reason != Paused {
		t.Fatalf("ends %+v", ends)
	}
	var first int
	for _, e := range evs {
		if e.Kind == Audio && e.At.Before(ends[0].At.Add(time.Nanosecond)) {
			first += len(e.PCM)
		}
	}
	if first != SampleRate {
		t.Errorf("capped turn carried %d samples, want %d (MaxTurn)", first, SampleRate)
	}
	st := r.Stats()
	if st.CappedTurns != 1 || st.CappedFrames < 95 || st.Turns != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestRateLimit: a flood of packets (thousands at once) is cut to the
// burst allowance, and a normal speaker beside it gets exactly the audio it
// gets alone.
func TestRateLimit(t *testing.T) {
	normal := stream(1, "alice", 0, 960, encodeMono(t, phrase(t, "thanks"), 960, gopus.Voip, 32000, 0))
	alone := pcmOf(run(New(Config{}), normal), 1)

	flood := encodeMono(t, tone(48000*2, 300, 8000, 48000), 960, gopus.Voip, 32000, 0)
	var mixed []Packet
	for i, p := range normal {
		mixed = append(mixed, p)
		if i == 10 { // 5000 packets (100 s of audio) arrive at once
			for k := 0; k < 5000; k++ {
				mixed = append(mixed, Packet{SSRC: 2, UserID: "mallory", Sequence: uint16(k), Opus: flood[k%len(flood)], Arrival: p.Arrival})
			}
		}
	}
	r := New(Config{})
	evs := run(r, mixed)
	if got := pcmOf(evs, 1); !slices.Equal(got, alone) {
		t.Errorf("the normal speaker's audio changed beside a flood (%d vs %d samples)", len(got), len(alone))
	}
	st := r.Stats()
	burst := int(r.cfg.RateBurst / (20 * time.Millisecond))
	if accepted := 5000 - int(st.RateLimited); accepted < burst-1 || accepted > burst+1 {
		t.Errorf("flood: %d packets accepted, want the burst of %d (stats %+v)", accepted, burst, st)
	}
}

// TestBadInputIsolated: garbage, truncated and oversized payloads from one
// speaker are counted and dropped without disturbing another speaker.
func TestBadInputIsolated(t *testing.T) {
	good := stream(1, "alice", 0, 960, encodeMono(t, phrase(t, "name"), 960, gopus.Voip, 32000, 0))
	alone := pcmOf(run(New(Config{}), good), 1)
	rng := rand.New(rand.NewPCG(7, 18))
	var mixed []Packet
	bad := 0
	for i, p := range good {
		mixed = append(mixed, p)
		garbage := make([]byte, rng.IntN(40))
		for j := range garbage {
			garbage[j] = byte(rng.Uint32())
		}
		if i == 5 {
			garbage = make([]byte, 3000) // oversized
		}
		mixed = append(mixed, Packet{SSRC: 66, UserID: "mallory", Sequence: uint16(i), Opus: garbage, Arrival: p.Arrival})
		bad++
	}
	r := New(Config{})
	evs := run(r, mixed)
	if got := pcmOf(evs, 1); !slices.Equal(got, alone) {
		t.Errorf("the good speaker's audio changed beside garbage")
	}
	if st := r.Stats(); st.Malformed == 0 {
		t.Errorf("no malformed packets counted among %d random payloads: %+v", bad, st)
	}
	for _, e := range evs {
		if e.Kind == Audio && e.SSRC == 66 && len(e.PCM) > ChunkSamples {
			t.Errorf("garbage produced a %d-sample chunk", len(e.PCM))
		}
	}
}

// TestLeaveCloseAndLimits: Leave ends a turn mid-speech with its tail;
// Close ends the rest; speakers beyond MaxSpeakers are rejected until one
// goes; idle speakers are forgotten.
func TestLeaveCloseAndLimits(t *testing.T) {
	payloads := encodeMono(t, phrase(t, "hello"), 960, gopus.Voip, 32000, 0)
	r := New(Config{MaxSpeakers: 2, IdleTimeout: time.Minute})
	var evs []Event
	for i := 0; i < 10; i++ {
		at := t0.Add(time.Duration(i+1) * 20 * time.Millisecond)
		for ssrc := uint32(1); ssrc <= 3; ssrc++ {
			evs = r.Packet(evs, Packet{SSRC: ssrc, UserID: string(rune('a' + ssrc)), Sequence: uint16(i), Opus: payloads[i], Arrival: at})
		}
	}
	if st := r.Stats(); st.Rejected != 10 || st.Speakers != 2 {
		t.Fatalf("third speaker: stats %+v", st)
	}
	now := t0.Add(220 * time.Millisecond)
	evs = r.Leave(evs[:0], now, "b") // ssrc 1
	if len(evs) == 0 || evs[len(evs)-1].Kind != End || evs[len(evs)-1].Reason != Left || evs[len(evs)-1].SSRC != 1 {
		t.Fatalf("Leave: %+v", evs)
	}
	if got := len(pcmOf(evs, 1)); got == 0 {
		t.Error("Leave reported no tail audio")
	}
	evs = r.Packet(evs[:0], Packet{SSRC: 3, UserID: "d", Sequence: 0, Opus: payloads[0], Arrival: now})
	if st := r.Stats(); st.Speakers != 2 || st.Rejected != 10 {
		t.Fatalf("after Leave, a new speaker is accepted: %+v", st)
	}
	// A new user on an SSRC ends the old user's turn.
	evs = r.Packet(evs[:0], Packet{SSRC: 2, UserID: "zed", Sequence: 500, Opus: payloads[1], Arrival: now})
	if e := kinds(evs, End); len(e) != 1 || e[0].UserID != "c" || e[0].Reason != Left {
		t.Fatalf("SSRC taken over: %+v", evs)
	}
	evs = r.Close(evs[:0], now)
	if e := kinds(evs, End); len(e) != 2 || e[0].Reason != Closed {
		t.Fatalf("Close: %+v", e)
	}
	if st := r.Stats(); st.Speakers != 0 {
		t.Fatalf("after Close: %+v", st)
	}
	// Idle: a speaker whose turn ended is forgotten after IdleTimeout.
	r.Packet(nil, Packet{SSRC: 9, UserID: "x", Opus: payloads[0], Arrival: now})
	r.Tick(nil, now.Add(time.Second))
	if r.Stats().Speakers != 1 {
		t.Fatal("speaker forgotten too early")
	}
	r.Tick(nil, now.Add(time.Minute))
	if r.Stats().Speakers != 0 {
		t.Fatal("idle speaker not forgotten")
	}
}

// TestDeadline: Deadline says when a loss or pause decision is due, so a
// caller can sleep until then instead of ticking blindly.
func TestDeadline(t *testing.T) {
	payloads := encodeMono(t, phrase(t, "hello"), 960, gopus.Voip, 32000, 0)
	r := New(Config{})
	if !r.Deadline().IsZero() {
		t.Fatal("deadline with nothing pending")
	}
	at := t0
	r.Packet(nil, Packet{SSRC: 1, UserID: "a", Sequence: 0, Opus: payloads[20], Arrival: at})
	if d := r.Deadline(); !d.Equal(at.Add(r.cfg.PauseGap)) {
		t.Fatalf("deadline %v, want the pause at %v", d.Sub(t0), r.cfg.PauseGap)
	}
	r.Packet(nil, Packet{SSRC: 1, UserID: "a", Sequence: 2, Opus: payloads[22], Arrival: at.Add(40 * time.Millisecond)})
	if d := r.Deadline(); !d.Equal(at.Add(40*time.Millisecond + r.cfg.Depth)) {
		t.Fatalf("deadline %v, want the loss decision at %v", d.Sub(t0), 40*time.Millisecond+r.cfg.Depth)
	}
	if evs := r.Tick(nil, r.Deadline()); len(pcmOf(evs, 1)) != 2*ChunkSamples {
		t.Fatalf("at the deadline: %d samples, want the concealed frame and the held one", len(pcmOf(evs, 1)))
	}
}

// TestTonePathQuality: a 1 kHz tone through Opus (as a client sends it),
// then this package's decode, downmix and 48→16 kHz path, keeps the SNR of
// the decoded 48 kHz audio itself: the receive path adds no audible loss.
func TestTonePathQuality(t *testing.T) {
	const hz = 1000.0
	pcm := tone(48000*2, hz, 10000, 48000)
	payloads := encodeMono(t, pcm, 960, gopus.Audio, 64000, 0)
	dec, err := gopus.NewDecoder(48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	var direct []int16
	for _, p := range payloads {
		out, err := dec.Decode(p, 960, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(out); i += 2 {
			direct = append(direct, out[i])
		}
	}
	got := pcmOf(run(New(Config{}), stream(1, "a", 0, 960, payloads)), 1)
	// Skip the first and last 100 ms (codec and filter start-up).
	d := toneSNR(direct[4800:len(direct)-4800], hz, 48000)
	g := toneSNR(got[1600:len(got)-1600], hz, SampleRate)
	t.Logf("1 kHz tone: decoded 48 kHz %.1f dB SNR, after the receive path at 16 kHz %.1f dB", d, g)
	if g < d-1 || g < 30 {
		t.Errorf("receive path SNR %.1f dB, decoded audio %.1f dB", g, d)
	}
}

// toneSNR fits a sinusoid of frequency hz (least squares, amplitude and
// phase) and returns the ratio of its power to the residual's, in dB.
func toneSNR(x []int16, hz float64, rate int) float64 {
	var ss, sc, cc, xs, xc float64
	for i, v := range x {
		s, c := math.Sincos(2 * math.Pi * hz * float64(i) / float64(rate))
		ss, sc, cc = ss+s*s, sc+s*c, cc+c*c
		xs, xc = xs+float64(v)*s, xc+float64(v)*c
	}
	det := ss*cc - sc*sc
	a, b := (xs*cc-xc*sc)/det, (xc*ss-xs*sc)/det
	var sig, res float64
	for i, v := range x {
		s, c := math.Sincos(2 * math.Pi * hz * float64(i) / float64(rate))
		f := a*s + b*c
		sig += f * f
		res += (float64(v) - f) * (float64(v) - f)
	}
	return 10 * math.Log10(sig/res)
}
