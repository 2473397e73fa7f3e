package voice_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	phrases "github.com/livecord/livecord/audio/speech"
	"github.com/livecord/livecord/live/livetest"
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
