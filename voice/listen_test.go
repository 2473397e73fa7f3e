package voice_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	phrases "github.com/livecord/livecord/audio/speech"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/inbound"
	"github.com/livecord/livecord/voice/internal/wire"
	"github.com/livecord/livecord/voice/voicetest"
)

const (
	aliceID = "100000000000000011"
	bobID   = "100000000000000012"
)

// ear records what a listener hears.
type ear struct {
	mu      sync.Mutex
	evs     []inbound.Event
	changed chan struct{}
}

func newEar() *ear { return &ear{changed: make(chan struct{})} }

func (e *ear) hear(ev inbound.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
}

func (e *ear) events() []inbound.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]inbound.Event(nil), e.evs...)
}

// wait waits until cond holds for the events heard so far.
func (e *ear) wait(ctx context.Context, t *testing.T, what string, cond func([]inbound.Event) bool) []inbound.Event {
	t.Helper()
	for {
		e.mu.Lock()
		evs := append([]inbound.Event(nil), e.evs...)
		ch := e.changed
		e.mu.Unlock()
		if cond(evs) {
			return evs
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (heard %s)", what, ctx.Err(), summary(evs))
		}
	}
}

// ends counts user's End events.
func ends(evs []inbound.Event, user string) int {
	n := 0
	for _, e := range evs {
		if e.Kind == inbound.End && e.UserID == user {
			n++
		}
	}
	return n
}

func endsOf(user string, n int) func([]inbound.Event) bool {
	return func(evs []inbound.Event) bool { return ends(evs, user) >= n }
}

// turnPCM returns the 16 kHz audio of user's turn number i (from 0).
func turnPCM(evs []inbound.Event, user string, i int) []int16 {
	var pcm []int16
	turn := -1
	for _, e := range evs {
		if e.UserID != user {
			continue
		}
		switch e.Kind {
		case inbound.Start:
			turn++
		case inbound.Audio:
			if turn == i {
				pcm = append(pcm, e.PCM...)
			}
		}
	}
	return pcm
}

func summary(evs []inbound.Event) string {
	counts := map[string]int{}
	for _, e := range evs {
		counts[e.UserID+" "+e.Kind.String()]++
	}
	s := ""
	for k, v := range counts {
		s += k + ":" + strconv.Itoa(v) + " "
	}
	return "[" + s + "]"
}

func phrase(t testing.TB, name string) []int16 {
	t.Helper()
	p, err := phrases.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return p.PCM
}

// join seats a speaking member.
func join(ctx context.Context, t *testing.T, srv *voicetest.Server, user string) *voicetest.Speaker {
	t.Helper()
	sp, err := srv.Join(ctx, guildID, channelID, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

// speak runs sp.Speak in the background; the returned func waits for it.
func speak(ctx context.Context, t *testing.T, sp *voicetest.Speaker, pcm []int16, o voicetest.SpeakOptions) func() {
	done := make(chan error, 1)
	go func() { done <- sp.Speak(ctx, pcm, o) }()
	return func() {
		t.Helper()
		if err := <-done; err != nil {
			t.Fatalf("%s speaking: %v", sp.UserID(), err)
		}
	}
}

// checkHeard compares what was heard of user's turn i with the phrase sent.
func checkHeard(t *testing.T, evs []inbound.Event, user string, i int, sent []int16, min float64) {
	t.Helper()
	got := turnPCM(evs, user, i)
	c := livetest.EnvelopeCorrelation(sent, phrases.Rate, got, inbound.SampleRate, 200*time.Millisecond)
	t.Logf("%s turn %d: %.2f s heard of %.2f s sent, envelope correlation %.3f", user, i,
		float64(len(got))/inbound.SampleRate, float64(len(sent))/phrases.Rate, c)
	if c < min {
		t.Errorf("%s turn %d: envelope correlation %.3f < %.2f", user, i, c, min)
	}
}

// TestListenDAVE: a member speaks a recorded phrase into a DAVE call, in
// each transport mode; the bot's Conn maps its SSRC to its user from op 5,
// decrypts (transport, then DAVE per sender), decodes and resamples it, and
// hears one turn that sounds like the phrase, with an onset and a pause.
func TestListenDAVE(t *testing.T) {
	for _, mode := range wire.SupportedModes {
		t.Run(mode, func(t *testing.T) {
			es := voicetest.NewExternalSender()
			srv := voicetest.NewServer(t, voicetest.Options{DAVE: es, RequireDAVE: true, Modes: []string{mode}})
			ctx := testCtx(t, 30*time.Second)
			bot, bd := daveDial(t, srv, botID)
			e := newEar()
			stop := bot.Listen(e.hear)
			defer stop()
			alice := join(ctx, t, srv, aliceID)
			inGroup(ctx, t, es, []string{botID, aliceID}, bd)
			pcm := phrase(t, "weather")
			speak(ctx, t, alice, pcm, voicetest.SpeakOptions{})()
			evs := e.wait(ctx, t, "alice's turn to end", endsOf(aliceID, 1))
			var kinds []inbound.Kind
			for _, ev := range evs {
				if ev.Kind != inbound.Audio {
					kinds = append(kinds, ev.Kind)
				}
				if ev.UserID != aliceID {
					t.Fatalf("heard %s from %q", ev.Kind, ev.UserID)
				}
			}
			if len(kinds) != 3 || kinds[0] != inbound.Start || kinds[1] != inbound.Onset || kinds[2] != inbound.End || evs[len(evs)-1].Reason != inbound.Paused {
				t.Fatalf("events %v, want start, onset, end (paused)", kinds)
			}
			checkHeard(t, evs, aliceID, 0, pcm, 0.9)
			st := bot.ReceiveStats()
			t.Logf("stats: %+v", st)
			if st.E2EEFailed != 0 || st.Undecryptable != 0 || st.Inbound.Malformed != 0 || st.Inbound.Concealed != 0 {
				t.Errorf("losses on a clean path: %+v", st)
			}
			if bot.Mode() != mode {
				t.Errorf("mode %s", bot.Mode())
			}
		})
	}
}

// TestListenUnknownSSRCReplayed: op 5 is held back while the member's
// packets flow (UDP overtaking the gateway), so the bot cannot know whose
// they are nor DAVE-decrypt them; once op 5 arrives the held packets are
// replayed in order and the turn is heard from its first word.
func TestListenUnknownSSRCReplayed(t *testing.T) {
	es := voicetest.NewExternalSender()
	srv := voicetest.NewServer(t, voicetest.Options{DAVE: es, RequireDAVE: true})
	ctx := testCtx(t, 30*time.Second)
	bot, bd := daveDial(t, srv, botID)
	e := newEar()
	defer bot.Listen(e.hear)()
	alice := join(ctx, t, srv, aliceID)
	inGroup(ctx, t, es, []string{botID, aliceID}, bd)
	release := srv.HoldSpeaking(aliceID)
	pcm := phrase(t, "hello")
	wait := speak(ctx, t, alice, pcm, voicetest.SpeakOptions{})
	waitUntil(ctx, t, "10 packets of an unknown SSRC", func() bool { return bot.ReceiveStats().UnknownSSRC >= 10 })
	if n := len(e.events()); n != 0 {
		t.Fatalf("heard %d events before op 5", n)
	}
	release()
	wait()
	evs := e.wait(ctx, t, "alice's turn to end", endsOf(aliceID, 1))
	st := bot.ReceiveStats()
	t.Logf("stats: %+v", st)
	if st.Replayed < 10 || st.Unmapped != 0 || st.E2EEFailed != 0 || st.Inbound.Concealed != 0 || ends(evs, aliceID) != 1 {
		t.Fatalf("replayed %d, unmapped %d, e2ee failures %d, concealed %d, %d turns", st.Replayed, st.Unmapped, st.E2EEFailed, st.Inbound.Concealed, ends(evs, aliceID))
	}
	checkHeard(t, evs, aliceID, 0, pcm, 0.9)
}

// opusFrames encodes 48 kHz mono pcm into 20 ms stereo Opus frames.
func opusFrames(t testing.TB, pcm []int16) [][]byte {
	t.Helper()
	fs, err := voicetest.EncodeOpus(pcm)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestListenHeaderExtensionsAndGarbage: packets as other clients and the
// SFU may send them (a header extension whose body is encrypted, CSRCs,
// padding), interleaved with garbage (truncated, tampered, random, RTCP,
// wrong version), reach the listener intact in both transport modes; the
// garbage is counted and changes nothing.
func TestListenHeaderExtensionsAndGarbage(t *testing.T) {
	for _, mode := range wire.SupportedModes {
		t.Run(mode, func(t *testing.T) {
			srv := voicetest.NewServer(t, voicetest.Options{Modes: []string{mode}})
			ctx := testCtx(t, 20*time.Second)
			bot := dial(t, srv, botID, nil)
			e := newEar()
			defer bot.Listen(e.hear)()
			alice := join(ctx, t, srv, aliceID)
			if err := alice.Conn().SetSpeaking(ctx, true); err != nil {
				t.Fatal(err)
			}
			st, _ := srv.WaitMemberState(ctx, aliceID, func(m voicetest.MemberState) bool { return m.Speaking })
			pcm := phrase(t, "count")
			frames := opusFrames(t, pcm)
			garbage := 0
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for i, f := range frames {
				p := voicetest.Packet{SSRC: st.SSRC, Sequence: uint16(5000 + i), Timestamp: uint32(i * 960), Payload: f}
				switch i % 4 {
				case 1:
					p.Extension = []byte{0x10, 0xAA, 0xBB, 0xCC, 0x21, 1, 2, 0}
				case 2:
					p.CSRC = []uint32{7, 8}
					p.Padding = 5
				case 3:
					p.Extension = []byte{0x10, 1, 0, 0}
					p.CSRC = []uint32{9}
				}
				if err := srv.Inject(call, botID, p); err != nil {
					t.Fatal(err)
				}
				var raw []byte
				switch i % 5 {
				case 0:
					raw = []byte{0x80, 0x78, 0, 1}
				case 1:
					raw = append([]byte{0x80, 0x78, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}, f...) // not sealed
					raw[8], raw[9], raw[10], raw[11] = byte(st.SSRC>>24), byte(st.SSRC>>16), byte(st.SSRC>>8), byte(st.SSRC)
				case 2:
					raw = []byte{0x80, 200, 0, 6, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} // RTCP sender report
				case 3:
					raw = []byte{0x40, 0x78, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}
				case 4:
					raw = []byte{0x9f, 0x78, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0xff, 0xff} // 15 CSRCs claimed, truncated
				}
				if err := srv.Inject(call, botID, voicetest.Packet{Raw: raw}); err != nil {
					t.Fatal(err)
				}
				if wire.IsOpusRTP(raw) {
					garbage++
				}
				<-tick.C // real time: faster would be a flood, rate limited
			}
			evs := e.wait(ctx, t, "alice's turn", endsOf(aliceID, 1))
			rs := bot.ReceiveStats()
			t.Logf("stats: %+v", rs)
			if rs.Inbound.Frames != uint64(len(frames)) || rs.Inbound.Malformed != 0 || rs.Inbound.Concealed != 0 || rs.Undecryptable != uint64(garbage) {
				t.Errorf("%d frames decoded of %d, %d malformed, %d concealed, %d undecryptable of %d garbage RTP",
					rs.Inbound.Frames, len(frames), rs.Inbound.Malformed, rs.Inbound.Concealed, rs.Undecryptable, garbage)
			}
			checkHeard(t, evs, aliceID, 0, pcm, 0.95)
		})
	}
}

// TestListenReorderAndLoss: the SFU delays some of a member's packets past
// their successors and loses others, on the real sockets with DAVE; the
// jitter buffer puts the late ones back in order (none given up on) and
// conceals each lost frame, so the turn keeps its length and its sound.
func TestListenReorderAndLoss(t *testing.T) {
	es := voicetest.NewExternalSender()
	srv := voicetest.NewServer(t, voicetest.Options{DAVE: es, RequireDAVE: true})
	ctx := testCtx(t, 30*time.Second)
	// A deeper reorder buffer than the default 40 ms: the 30 ms delays below
	// must not be judged lost because a loaded machine ran the timer late.
	d, err := voice.NewDAVE(snowflake(t, botID), snowflake(t, channelID), nil)
	if err != nil {
		t.Fatal(err)
	}
	bot := dial(t, srv, botID, func(c *voice.Config) { c.E2EE, c.Receive = d, inbound.Config{Depth: 100 * time.Millisecond} })
	e := newEar()
	defer bot.Listen(e.hear)()
	alice := join(ctx, t, srv, aliceID)
	inGroup(ctx, t, es, []string{botID, aliceID}, d)
	var delayed atomic.Int32
	var mu sync.Mutex
	var droppedSeqs []uint16
	srv.DropPackets(func(user string, seq uint16) bool {
		if user == aliceID && seq%25 == 10 {
			mu.Lock()
			droppedSeqs = append(droppedSeqs, seq)
			mu.Unlock()
			return true
		}
		return false
	})
	srv.DelayPackets(func(user string, seq uint16) time.Duration {
		if user == aliceID && seq%7 == 3 {
			delayed.Add(1)
			return 30 * time.Millisecond // overtaken by the next one or two
		}
		return 0
	})
	pcm := phrase(t, "weather")
	speak(ctx, t, alice, pcm, voicetest.SpeakOptions{})()
	evs := e.wait(ctx, t, "alice's turn", endsOf(aliceID, 1))
	st := bot.ReceiveStats().Inbound
	// A loss is noticed only between two packets that arrived: not before
	// the first nor after the last.
	fs := srv.Frames(aliceID)
	first, last := fs[0].Sequence, fs[len(fs)-1].Sequence
	var dropped atomic.Int32
	mu.Lock()
	for _, q := range droppedSeqs {
		if q-first < last-first {
			dropped.Add(1)
		}
	}
	mu.Unlock()
	t.Logf("%d delayed 30 ms, %d lost between the first and last packet; stats %+v", delayed.Load(), dropped.Load(), st)
	// Every lost packet is concealed, and so is any delayed one the buffer
	// gave up on (a stall of the whole process longer than its depth).
	if st.Late > uint64(delayed.Load())/4 || st.Duplicates != 0 || st.Concealed+st.FECRecovered != uint64(dropped.Load())+st.Late || dropped.Load() == 0 {
		t.Errorf("late %d of %d delayed, duplicates %d, concealed %d + FEC %d for %d lost", st.Late, delayed.Load(), st.Duplicates, st.Concealed, st.FECRecovered, dropped.Load())
	}
	sent := len(pcm)/wire.FrameSamples + 1 + 5 // the phrase, its last partial frame, the silence tail
	if got := len(turnPCM(evs, aliceID, 0)); got < (sent-1)*inbound.ChunkSamples {
		t.Errorf("heard %d samples, want the length of %d frames", got, sent)
	}
	checkHeard(t, evs, aliceID, 0, pcm, 0.9)
}

// TestListenFloodAndGarbage: while Alice speaks, Bob floods at ten times
// real time and sends frames that are not Opus or not DAVE; Alice is heard
// intact, Bob's excess is rate limited and his garbage counted, and the
// bot's own speech, sent meanwhile, keeps its 20 ms pace.
func TestListenFloodAndGarbage(t *testing.T) {
	es := voicetest.NewExternalSender()
	srv := voicetest.NewServer(t, voicetest.Options{DAVE: es, RequireDAVE: true})
	ctx := testCtx(t, 40*time.Second)
	bot, bd := daveDial(t, srv, botID)
	e := newEar()
	defer bot.Listen(e.hear)()
	alice := join(ctx, t, srv, aliceID)
	bob := join(ctx, t, srv, bobID)
	inGroup(ctx, t, es, []string{botID, aliceID, bobID}, bd)
	if err := errors.Join(alice.WaitReady(ctx), bob.WaitReady(ctx)); err != nil {
		t.Fatal(err)
	}

	p := newPlayer(ctx, t, bot)
	bound := gapBound(ctx, 5*time.Millisecond)
	from := len(srv.Frames(botID))
	streamFor(ctx, t, p, 4*time.Second)

	pcm := phrase(t, "name")
	var flood []int16
	for range 4 {
		flood = append(flood, phrase(t, "weather")...)
	}
	floodDone := speak(ctx, t, bob, flood, voicetest.SpeakOptions{Interval: 2 * time.Millisecond})
	aliceDone := speak(ctx, t, alice, pcm, voicetest.SpeakOptions{})
	// Bob's garbage follows his op 5 (before it, it would only be held).
	e.wait(ctx, t, "bob's flood to be heard", func(evs []inbound.Event) bool {
		return slices.ContainsFunc(evs, func(ev inbound.Event) bool { return ev.UserID == bobID })
	})
	bobSSRC, _ := srv.Member(bobID)
	for i := range 100 {
		junk := make([]byte, 40+i)
		for k := range junk {
			junk[k] = byte(i*31 + k*7)
		}
		// Not Opus (DAVE decrypts it, the TOC check refuses it) and not DAVE
		// (sealed by the server's transport only).
		if err := bob.Conn().WriteOpus(junk); err != nil {
			t.Fatal(err)
		}
		if err := srv.Inject(call, botID, voicetest.Packet{SSRC: bobSSRC.SSRC, Sequence: uint16(i), Payload: junk}); err != nil {
			t.Fatal(err)
		}
	}
	floodDone()
	aliceDone()
	evs := e.wait(ctx, t, "alice's turn", endsOf(aliceID, 1))
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	fs := waitTail(ctx, t, srv, botID, from)[from:]
	limit := bound()
	st := bot.ReceiveStats()
	t.Logf("stats %+v", st)
	if st.Inbound.RateLimited == 0 || st.E2EEFailed < 100 || st.Inbound.Malformed == 0 {
		t.Errorf("flood not limited (%d) or garbage not counted (e2ee %d, malformed %d)", st.Inbound.RateLimited, st.E2EEFailed, st.Inbound.Malformed)
	}
	checkHeard(t, evs, aliceID, 0, pcm, 0.9)
	_, dev, _ := pacing(fs)
	ps := p.Stats()
	t.Logf("the bot's own speech meanwhile: %d frames, p99 lateness behind its slot %v (limit %v from a bare timer in this run); arrival p99 deviation from 20 ms at the server %v",
		len(fs), ps.LateP99, limit, dev)
	if ps.LateP99 > limit {
		t.Errorf("sending p99 lateness %v > %v", ps.LateP99, limit)
	}
}

// TestListenIgnore: users the caller ignores (bots, deafened, server-muted)
// are not heard; ignoring a user who is speaking ends their turn at once;
// hearing them again works.
func TestListenIgnore(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 30*time.Second)
	bot := dial(t, srv, botID, nil)
	e := newEar()
	defer bot.Listen(e.hear)()
	alice, bob := join(ctx, t, srv, aliceID), join(ctx, t, srv, bobID)
	bot.Ignore(bobID, true)
	bobDone := speak(ctx, t, bob, phrase(t, "thanks"), voicetest.SpeakOptions{})
	pcm := phrase(t, "hello")
	speak(ctx, t, alice, pcm, voicetest.SpeakOptions{})()
	bobDone()
	evs := e.wait(ctx, t, "alice's turn", endsOf(aliceID, 1))
	for _, ev := range evs {
		if ev.UserID == bobID {
			t.Fatalf("heard the ignored user: %s", ev.Kind)
		}
	}
	if st := bot.ReceiveStats(); st.Muted < 50 {
		t.Fatalf("%d packets of the ignored user counted", st.Muted)
	}
	checkHeard(t, evs, aliceID, 0, pcm, 0.9)

	// Ignored mid-turn: the turn ends (left) and nothing more is heard.
	wait := speak(ctx, t, alice, phrase(t, "weather"), voicetest.SpeakOptions{})
	e.wait(ctx, t, "alice's second turn", func(evs []inbound.Event) bool { return len(turnPCM(evs, aliceID, 1)) > 0 })
	bot.Ignore(aliceID, true)
	evs = e.events()
	if last := evs[len(evs)-1]; last.Kind != inbound.End || last.Reason != inbound.Left || last.UserID != aliceID {
		t.Fatalf("after Ignore the last event is %s (%s), want end (left)", last.Kind, last.Reason)
	}
	n := len(evs)
	wait()
	bot.Ignore(aliceID, false)
	speak(ctx, t, alice, pcm, voicetest.SpeakOptions{})()
	evs = e.wait(ctx, t, "alice's third turn", endsOf(aliceID, 3))
	for _, ev := range evs[n:] {
		if ev.Kind == inbound.Start {
			break
		}
		t.Fatalf("heard %s from %s after ignoring her", ev.Kind, ev.UserID)
	}
	checkHeard(t, evs, aliceID, 2, pcm, 0.9)
}

// TestListenSurvivesNewSession: the listener registered once keeps hearing
// across a 4006 (a new session through Rejoin, a new SSRC, a new DAVE group).
func TestListenSurvivesNewSession(t *testing.T) {
	es := voicetest.NewExternalSender()
	srv := voicetest.NewServer(t, voicetest.Options{DAVE: es, RequireDAVE: true})
	ctx := testCtx(t, 40*time.Second)
	d, err := voice.NewDAVE(snowflake(t, botID), snowflake(t, channelID), nil)
	if err != nil {
		t.Fatal(err)
	}
	rejoins := 0
	bot := dial(t, srv, botID, func(c *voice.Config) {
		c.E2EE = d
		c.Rejoin = func(ctx context.Context) (voice.Server, error) {
			rejoins++
			return srv.Grant(guildID, channelID, botID, "sess-again-"+strconv.Itoa(rejoins)), nil
		}
	})
	e := newEar()
	defer bot.Listen(e.hear)()
	alice := join(ctx, t, srv, aliceID)
	inGroup(ctx, t, es, []string{botID, aliceID}, d)
	first := phrase(t, "hello")
	speak(ctx, t, alice, first, voicetest.SpeakOptions{})()
	e.wait(ctx, t, "the first turn", endsOf(aliceID, 1))

	old := bot.SSRC()
	if err := srv.ForceClose(botID, 4006); err != nil {
		t.Fatal(err)
	}
	waitUntil(ctx, t, "a new session", func() bool { return bot.SSRC() != 0 && bot.SSRC() != old })
	inGroup(ctx, t, es, []string{botID, aliceID}, d)
	if err := alice.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	second := phrase(t, "thanks")
	speak(ctx, t, alice, second, voicetest.SpeakOptions{})()
	evs := e.wait(ctx, t, "the second turn", endsOf(aliceID, 2))
	if rejoins != 1 {
		t.Fatalf("%d rejoins", rejoins)
	}
	checkHeard(t, evs, aliceID, 0, first, 0.9)
	checkHeard(t, evs, aliceID, 1, second, 0.9)
}

// TestChannelListenerOutlivesConnections: a listener registered once on a
// Channel that joined hearing (op 4 without self_deaf), and its ignore
// list, keep working across a resume (4015), a 4006 new session
// through the main gateway and across a whole new connection after Discord
// disconnected the bot (4014) and it joined again.
func TestChannelListenerOutlivesConnections(t *testing.T) {
	vs := voicetest.NewServer(t, voicetest.Options{})
	_, s, guild, channel := discord(t, vs)
	ctx := testCtx(t, 40*time.Second)
	ch, err := voice.Join(ctx, s, guild, channel, voice.ChannelConfig{TLSConfig: vs.ClientTLS(), NoDAVE: true, Hearing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	e := newEar()
	defer ch.Listen(e.hear)()
	ch.Ignore(bobID, true)
	bot := s.State.User.ID
	// Hearing: the main gateway has the bot in the channel, not self-deafened
	// (Discord sends a self-deafened client no audio).
	waitUntil(ctx, t, "the bot's voice state", func() bool {
		vs, err := s.State.VoiceState(guild, bot)
		return err == nil && vs.ChannelID == channel && !vs.SelfDeaf
	})
	sayAs := func(turn int, name string) {
		t.Helper()
		alice, err := vs.Join(ctx, guild, channel, aliceID)
		if err != nil {
			t.Fatal(err)
		}
		defer alice.Close()
		bob, err := vs.Join(ctx, guild, channel, bobID)
		if err != nil {
			t.Fatal(err)
		}
		defer bob.Close()
		pcm := phrase(t, name)
		bobDone := speak(ctx, t, bob, pcm, voicetest.SpeakOptions{})
		speak(ctx, t, alice, pcm, voicetest.SpeakOptions{})()
		bobDone()
		evs := e.wait(ctx, t, "alice's turn "+strconv.Itoa(turn), endsOf(aliceID, turn+1))
		checkHeard(t, evs, aliceID, turn, pcm, 0.9)
	}
	sayAs(0, "hello")

	// 4015: a resume on the same connection.
	c := voice.ChannelConn(ch)
	if err := vs.ForceClose(bot, 4015); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.WaitMemberState(ctx, bot, func(m voicetest.MemberState) bool { return m.Resumes == 1 }); err != nil {
		t.Fatal(err)
	}
	sayAs(1, "weather")

	old := c.SSRC()
	if err := vs.ForceClose(bot, 4006); err != nil {
		t.Fatal(err)
	}
	waitUntil(ctx, t, "a new session after 4006", func() bool { return c.SSRC() != 0 && c.SSRC() != old })
	sayAs(2, "thanks")

	vs.Disconnect(guild, bot)
	<-c.Done()
	waitUntil(ctx, t, "the Channel to forget the ended connection", func() bool { return ch.ChannelID() == "" })
	if err := ch.Join(ctx, channel, 0); err != nil {
		t.Fatal(err)
	}
	sayAs(3, "count")
	for _, ev := range e.events() {
		if ev.UserID == bobID {
			t.Fatalf("heard the ignored user (%s)", ev.Kind)
		}
	}
	if st := ch.ReceiveStats(); st.Inbound.Turns != 4 || st.Muted == 0 {
		t.Fatalf("stats across connections: %+v", st)
	}
}

// TestSpeakerVoiceGate: a Speaker with its voice gate on stops sending
// through a pause in what it says, as Discord clients do (five silence
// frames, then nothing), and the listener hears two turns, each like its
// phrase.
func TestSpeakerVoiceGate(t *testing.T) {
	srv := voicetest.NewServer(t, voicetest.Options{})
	ctx := testCtx(t, 30*time.Second)
	bot := dial(t, srv, botID, nil)
	e := newEar()
	defer bot.Listen(e.hear)()
	alice := join(ctx, t, srv, aliceID)
	first, second := phrase(t, "hello"), phrase(t, "thanks")
	pcm := slices.Concat(first, make([]int16, phrases.Rate), second) // a second of silence between
	speak(ctx, t, alice, pcm, voicetest.SpeakOptions{Gate: true})()
	evs := e.wait(ctx, t, "two turns", endsOf(aliceID, 2))
	checkHeard(t, evs, aliceID, 0, first, 0.9)
	checkHeard(t, evs, aliceID, 1, second, 0.9)
	fs := srv.Frames(aliceID)
	silences, sent := 0, len(fs)
	for _, f := range fs {
		if f.IsSilence() {
			silences++
		}
	}
	// Two talkspurts, each closed by five silence frames; the gate's
	// hangover keeps sending for at most 200 ms into the pause.
	if silences != 10 || sent > (len(pcm)-phrases.Rate)/960+2+10+10 {
		t.Fatalf("%d frames sent (%d silence) for %.1f s with a 1 s pause", sent, silences, float64(len(pcm))/phrases.Rate)
	}
}
