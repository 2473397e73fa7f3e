package bot_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/livecord/livecord/admin"
	"github.com/livecord/livecord/audio/speech"
	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/store"
	"github.com/livecord/livecord/voice/voicetest"
)

// talkHarness is a voice harness with the Live emulator recognising the
// recorded phrases, and exchanges reported as they finish.
type talkHarness struct {
	*harness
	vt *voicetest.Server

	mu  sync.Mutex
	exs []bot.TalkExchange
	got chan struct{}
}

func newTalkHarness(t testing.TB, lopts livetest.Options) *talkHarness {
	t.Helper()
	vt := voicetest.NewServer(t, voicetest.Options{})
	h := newHarness(t, discordtest.Options{VoiceServer: vt.VoiceServer}, lopts)
	h.cfg.Voice = &bot.VoiceConfig{TLSConfig: vt.ClientTLS(), NoDAVE: true}
	h.dc.SetVoiceState(h.guild.ID, h.alice.ID, h.vc.ID)
	th := &talkHarness{harness: h, vt: vt, got: make(chan struct{}, 16)}
	h.cfg.EditInterval = 50 * time.Millisecond
	h.cfg.Talk.OnExchange = func(x bot.TalkExchange) {
		th.mu.Lock()
		th.exs = append(th.exs, x)
		th.mu.Unlock()
		th.got <- struct{}{}
	}
	phrases, err := speech.Phrases()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range phrases {
		h.lv.Hear(p.Text, p.PCM, speech.Rate)
	}
	return th
}

func phrase(t testing.TB, name string) speech.Phrase {
	t.Helper()
	p, err := speech.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startTalk has alice run /talk and waits for the notice.
func (th *talkHarness) startTalk(t testing.TB) string {
	t.Helper()
	ia := th.run(th.alice, "talk", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := ia.WaitOriginal(ctx, func(m discordtest.Message) bool { return strings.Contains(m.Content, "Listening") })
	if err != nil {
		t.Fatalf("no /talk notice: %v", err)
	}
	if m.Flags&discordtest.FlagEphemeral != 0 {
		t.Fatalf("the notice is ephemeral: %+v", m)
	}
	return m.Content
}

// speaker seats userID in the voice call, ready to speak.
func (th *talkHarness) speaker(ctx context.Context, t testing.TB, userID string) *voicetest.Speaker {
	t.Helper()
	sp, err := th.vt.Join(ctx, th.guild.ID, th.vc.ID, userID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	if err := sp.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return sp
}

// transcript waits for a finished transcript message containing want.
func (th *talkHarness) transcript(ctx context.Context, t testing.TB, want string) discordtest.Message {
	t.Helper()
	var found discordtest.Message
	_, err := th.dc.WaitChannelMessages(ctx, th.text.ID, func(ms []discordtest.Message) bool {
		for _, m := range ms {
			if strings.Contains(m.Content, want) && !strings.HasSuffix(m.Content, "▍") {
				found = m
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no finished transcript message with %q: %v; messages: %+v", want, err, th.dc.ChannelMessages(th.text.ID))
	}
	return found
}

// exchange waits for the next finished exchange.
func (th *talkHarness) exchange(ctx context.Context, t testing.TB) bot.TalkExchange {
	t.Helper()
	select {
	case <-th.got:
	case <-ctx.Done():
		t.Fatal("no spoken exchange finished")
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	return th.exs[len(th.exs)-1]
}

// TestTalkSpokenQuestion: /talk posts a visible notice naming who is
// heard; alice asks a recorded question aloud (Opus through the voice
// server); the bot answers aloud in the channel and the text channel gets
// "**alice:** <the question>" followed by the reply's transcript.
func TestTalkSpokenQuestion(t *testing.T) {
	th := newTalkHarness(t, livetest.Options{Speed: 10})
	st := openStore(t, store.Config{DataDir: th.cfg.DataDir})
	th.cfg.Store = st
	th.start()
	notice := th.startTalk(t)
	if !strings.Contains(notice, "alice") || !strings.Contains(notice, "/talk again") {
		t.Fatalf("notice %q does not say who is heard and how to stop", notice)
	}
	ctx := th.ctx()
	sp := th.speaker(ctx, t, th.alice.ID)
	q := phrase(t, "weather")
	if err := sp.Speak(ctx, q.PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
		t.Fatal(err)
	}
	m := th.transcript(ctx, t, "**alice:** "+q.Text)
	reply := livetest.DefaultTranscript(q.Text)
	if !strings.Contains(m.Content, reply) {
		t.Fatalf("transcript %q lacks the reply %q", m.Content, reply)
	}
	if len(m.AllowedMentions) == 0 || strings.Contains(string(m.AllowedMentions), "users\":[\"") {
		t.Fatalf("transcript allowed_mentions = %s, want none", m.AllowedMentions)
	}
	// The reply is spoken: audio frames then the silence tail.
	if _, err := th.vt.WaitFrames(ctx, th.dc.AppID(), func(fs []voicetest.Frame) bool { return silenceFrames(fs) >= 5 && len(fs) > 20 }); err != nil {
		t.Fatalf("no spoken reply: %v", err)
	}
	x := th.exchange(ctx, t)
	if x.Speaker != "alice" || x.Heard != q.Text || x.Interrupted {
		t.Fatalf("exchange = %+v", x)
	}
	// The spoken exchange is remembered like a typed one, under alice's name.
	if hist := recent(t, st, th.key()); len(hist) != 1 || hist[0].UserName != "alice" || hist[0].UserID != th.alice.ID ||
		hist[0].Prompt != q.Text || !strings.Contains(hist[0].Reply, reply) {
		t.Fatalf("remembered %+v, want alice's spoken question and the reply", hist)
	}
	t.Logf("bot's share: in %v (last voiced packet → Live), out %v (first reply chunk → RTP)", x.In, x.Out)
}

func silenceFrames(fs []voicetest.Frame) (n int) {
	for _, f := range fs {
		if f.IsSilence() {
			n++
		}
	}
	return n
}

// TestTalkBargeIn: while the bot answers aloud, alice speaks over it: its
// audio stops within 100 ms of her voiced onset at the voice server (plus
// the pacing jitter measured in the same run), the transcript marks the
// cut, and her next question is answered in full.
func TestTalkBargeIn(t *testing.T) {
	th := newTalkHarness(t, livetest.Options{Speed: 10})
	q, stop, again := phrase(t, "weather"), phrase(t, "interrupt"), phrase(t, "hello")
	th.lv.Respond(func(r livetest.Request) livetest.Reply {
		if r.Prompt == q.Text {
			return livetest.Reply{Transcript: "A long answer about the weather.", Duration: 20 * time.Second}
		}
		return livetest.Reply{}
	})
	th.start()
	th.startTalk(t)
	ctx := th.ctx()
	sp := th.speaker(ctx, t, th.alice.ID)
	if err := sp.Speak(ctx, q.PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
		t.Fatal(err)
	}
	// The reply is playing: a second of it has reached the voice server.
	if _, err := th.vt.WaitFrames(ctx, th.dc.AppID(), func(fs []voicetest.Frame) bool { return len(fs) >= 50 }); err != nil {
		t.Fatal(err)
	}
	before := len(th.vt.Frames(sp.UserID()))
	if err := sp.Speak(ctx, stop.PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
		t.Fatal(err)
	}
	cut := th.transcript(ctx, t, "*(interrupted)*")
	if !strings.Contains(cut.Content, "**alice:** "+q.Text) {
		t.Fatalf("the cut reply's transcript is %q", cut.Content)
	}
	mine := th.vt.Frames(sp.UserID())[before:]
	if len(mine) == 0 {
		t.Fatal("alice's interruption never reached the voice server")
	}
	onset := mine[0].Arrival
	bot := th.vt.Frames(th.dc.AppID())
	var last time.Time
	jitter := time.Duration(0) // worst lateness of the bot's pacing before the cut
	for i, f := range bot {
		if f.Arrival.Before(onset) && i > 0 && !bot[i-1].IsSilence() {
			jitter = max(jitter, f.Arrival.Sub(bot[i-1].Arrival)-20*time.Millisecond)
		}
		if !f.IsSilence() && f.Arrival.After(onset) {
			last = f.Arrival
		}
	}
	took := last.Sub(onset)
	if last.IsZero() {
		took = 0 // no audio packet after the onset at all
	}
	t.Logf("barge-in: bot's last audio packet %v after alice's first voiced packet (pacing jitter before it %v)", took, jitter)
	if took > 100*time.Millisecond+jitter {
		t.Fatalf("barge-in took %v, want ≤ 100 ms (+ %v jitter)", took, jitter)
	}
	// The interruption is itself a question; then alice asks again.
	th.transcript(ctx, t, "**alice:** "+stop.Text)
	if err := sp.Speak(ctx, again.PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
		t.Fatal(err)
	}
	m := th.transcript(ctx, t, "**alice:** "+again.Text)
	if !strings.Contains(m.Content, livetest.DefaultTranscript(again.Text)) || strings.Contains(m.Content, "interrupted") {
		t.Fatalf("second question's transcript %q", m.Content)
	}
}

// TestTalkTwoSpeakers: bob starts while alice holds the floor; his speech
// is held and sent after hers, introduced by name, so each transcript line
// names the right person.
func TestTalkTwoSpeakers(t *testing.T) {
	th := newTalkHarness(t, livetest.Options{Speed: 10})
	th.dc.SetVoiceState(th.guild.ID, th.bob.ID, th.vc.ID)
	contexts := make(chan string, 8)
	th.lv.Respond(func(r livetest.Request) livetest.Reply {
		if r.Spoken {
			contexts <- r.Prompt + "|" + r.Context
		}
		return livetest.Reply{}
	})
	th.start()
	th.startTalk(t)
	ctx := th.ctx()
	a, b := th.speaker(ctx, t, th.alice.ID), th.speaker(ctx, t, th.bob.ID)
	qa, qb := phrase(t, "weather"), phrase(t, "hello")
	errs := make(chan error, 1)
	go func() { errs <- a.Speak(ctx, qa.PCM, voicetest.SpeakOptions{Gate: true}) }()
	// Bob starts once alice's first second has reached the voice server.
	if _, err := th.vt.WaitFrames(ctx, a.UserID(), func(fs []voicetest.Frame) bool { return len(fs) >= 50 }); err != nil {
		t.Fatal(err)
	}
	if err := b.Speak(ctx, qb.PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	th.transcript(ctx, t, "**alice:** "+qa.Text)
	th.transcript(ctx, t, "**bob:** "+qb.Text)
	for _, m := range th.dc.ChannelMessages(th.text.ID) {
		if strings.Contains(m.Content, "**alice:** "+qb.Text) || strings.Contains(m.Content, "**bob:** "+qa.Text) {
			t.Fatalf("misattributed: %q", m.Content)
		}
	}
	// Live was told who speaks before each one's speech.
	got := map[string]string{}
	for range 2 {
		select {
		case c := <-contexts:
			p, ctxText, _ := strings.Cut(c, "|")
			got[p] = ctxText
		case <-ctx.Done():
			t.Fatal("Live did not get two spoken turns")
		}
	}
	if !strings.Contains(got[qa.Text], "alice is speaking.") || !strings.Contains(got[qb.Text], "bob is speaking.") {
		t.Fatalf("context per turn = %q", got)
	}
}

// TestTalkIgnoresBotsAndDeafened: another bot and a member who deafens
// (after /talk started: the main gateway's voice state) speak, then alice:
// only alice is heard, and the receive path counts the dropped packets.
func TestTalkIgnoresBotsAndDeafened(t *testing.T) {
	th := newTalkHarness(t, livetest.Options{Speed: 10})
	met := admin.NewMetrics()
	th.cfg.Metrics = met
	other := th.dc.AddBotUser("otherbot")
	th.dc.AddMember(th.guild.ID, other)
	th.dc.SetVoiceState(th.guild.ID, other.ID, th.vc.ID)
	th.dc.SetVoiceState(th.guild.ID, th.carol.ID, th.vc.ID)
	th.start()
	notice := th.startTalk(t)
	if strings.Contains(notice, "otherbot") || !strings.Contains(notice, "carol") {
		t.Fatalf("notice %q: want carol heard and the bot not", notice)
	}
	th.dc.SetVoiceFlags(th.guild.ID, th.carol.ID, discordtest.VoiceFlags{SelfDeaf: true})
	th.logs.wait(t, "user="+th.carol.ID+" heard=false")
	ctx := th.ctx()
	for _, u := range []string{other.ID, th.carol.ID} {
		sp := th.speaker(ctx, t, u)
		if err := sp.Speak(ctx, phrase(t, "count").PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
			t.Fatal(err)
		}
	}
	sp := th.speaker(ctx, t, th.alice.ID)
	q := phrase(t, "thanks")
	if err := sp.Speak(ctx, q.PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
		t.Fatal(err)
	}
	th.transcript(ctx, t, "**alice:** "+q.Text)
	if x := th.exchange(ctx, t); x.Speaker != "alice" {
		t.Fatalf("first exchange is %+v, want alice's (the others were heard)", x)
	}
	for _, m := range th.dc.ChannelMessages(th.text.ID) {
		if strings.Contains(m.Content, phrase(t, "count").Text) {
			t.Fatalf("an ignored member was transcribed: %q", m.Content)
		}
	}
	if n := value(met.Received.WithLabelValues("ignored")); n < 50 {
		t.Fatalf("%v ignored packets counted, want the two phrases' (≥ 50)", n)
	}
}

// TestTalkStops: /talk again stops listening (said in its reply); a new
// /talk then stops when the channel empties, with a notice.
func TestTalkStops(t *testing.T) {
	th := newTalkHarness(t, livetest.Options{Speed: 10})
	met := admin.NewMetrics()
	th.cfg.Metrics = met
	th.start()
	th.startTalk(t)
	if n := value(met.ListeningChannels); n != 1 {
		t.Fatalf("listening channels = %v, want 1", n)
	}
	ia := th.run(th.alice, "talk", nil)
	ctx := th.ctx()
	m, err := ia.WaitOriginal(ctx, func(m discordtest.Message) bool { return m.Content != "" })
	if err != nil || !strings.Contains(m.Content, "Stopped listening") {
		t.Fatalf("second /talk answered %q (%v)", m.Content, err)
	}
	if n := value(met.ListeningChannels); n != 0 {
		t.Fatalf("listening channels = %v after /talk again, want 0", n)
	}
	th.startTalk(t)
	th.dc.SetVoiceState(th.guild.ID, th.alice.ID, "")
	if _, err := th.dc.WaitChannelMessages(ctx, th.text.ID, func(ms []discordtest.Message) bool {
		return len(ms) > 0 && strings.Contains(ms[len(ms)-1].Content, "everyone left")
	}); err != nil {
		t.Fatalf("no notice when the channel emptied: %v; messages %+v", err, th.dc.ChannelMessages(th.text.ID))
	}
	if err := th.dc.WaitVoiceChannel(ctx, th.guild.ID, th.dc.AppID(), ""); err != nil {
		t.Fatal(err)
	}
}

// TestTalkAskShares: the bot sits in the channel deafened after an /ask
// (it does not listen); /talk undeafens it. A text /ask during /talk is a
// turn in the same Live session: it sees the spoken exchange as history,
// and is answered as usual.
func TestTalkAskShares(t *testing.T) {
	th := newTalkHarness(t, livetest.Options{Speed: 10})
	seen := th.histories()
	th.start()
	ctx := th.ctx()
	answered(t, th.ask(th.alice, "hello before"))
	if f, ok := th.dc.VoiceFlagsOf(th.guild.ID, th.dc.AppID()); !ok || !f.SelfDeaf {
		t.Fatalf("bot's voice state after /ask: %+v %v, want self-deafened", f, ok)
	}
	th.startTalk(t)
	if err := th.dc.WaitVoiceFlags(ctx, th.guild.ID, th.dc.AppID(), func(f discordtest.VoiceFlags) bool { return !f.SelfDeaf }); err != nil {
		t.Fatalf("the bot still sits deafened while listening: %v", err)
	}
	sp := th.speaker(ctx, t, th.alice.ID)
	q := phrase(t, "weather")
	if err := sp.Speak(ctx, q.PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
		t.Fatal(err)
	}
	th.transcript(ctx, t, "**alice:** "+q.Text)
	m := answered(t, th.ask(th.alice, "hi"))
	if !strings.Contains(m.Content, livetest.DefaultTranscript("hi")) {
		t.Fatalf("/ask during /talk answered %q", m.Content)
	}
	if n := seen()["hi"]; n < 1 {
		t.Fatalf("/ask saw %d earlier exchanges, want the spoken one", n)
	}
	if n := len(th.lv.Conns()); n != 2 {
		t.Fatalf("%d Live connections, want 2: the first /ask's, then the one session the talk and /ask share", n)
	}
}

// value reads a gauge's or counter's value.
func value(m interface{ Write(*dto.Metric) error }) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	if g := d.GetGauge(); g != nil {
		return g.GetValue()
	}
	return d.GetCounter().GetValue()
}

// TestTalkNameGate: with the gate on, a question that does not name the
// bot is not answered (no audio, no transcript); one that does is.
func TestTalkNameGate(t *testing.T) {
	th := newTalkHarness(t, livetest.Options{Speed: 10})
	th.cfg.Talk.NameGate, th.cfg.Talk.Name = true, "Bob" // "My name is Alice, and this is Bob."
	th.start()
	if notice := th.startTalk(t); !strings.Contains(notice, "Say **Bob**") {
		t.Fatalf("notice %q does not say the gate's name", notice)
	}
	ctx := th.ctx()
	sp := th.speaker(ctx, t, th.alice.ID)
	if err := sp.Speak(ctx, phrase(t, "weather").PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
		t.Fatal(err)
	}
	if x := th.exchange(ctx, t); !x.Gated || x.Heard != phrase(t, "weather").Text {
		t.Fatalf("ungated question: %+v", x)
	}
	if n := len(th.vt.Frames(th.dc.AppID())); n != 0 {
		t.Fatalf("the bot spoke %d packets answering a question not addressed to it", n)
	}
	named := phrase(t, "name")
	if err := sp.Speak(ctx, named.PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
		t.Fatal(err)
	}
	th.transcript(ctx, t, "**alice:** "+named.Text)
	if x := th.exchange(ctx, t); x.Gated || x.FirstReply.IsZero() {
		t.Fatalf("addressed question: %+v", x)
	}
	if ms := th.dc.ChannelMessages(th.text.ID); len(ms) != 1 {
		t.Fatalf("%d transcript messages, want only the addressed exchange's: %+v", len(ms), ms)
	}
}

// TestTalkSurvivesReconnect: the Live connection goes away between two
// questions (goAway, then close); the next question's speech, which
// arrives while the session resumes on a new connection, is buffered and
// heard whole, in the same conversation.
func TestTalkSurvivesReconnect(t *testing.T) {
	th := newTalkHarness(t, livetest.Options{Speed: 10})
	q, again := phrase(t, "weather"), phrase(t, "hello")
	th.lv.Script(livetest.Reply{Fault: livetest.Fault{Kind: livetest.FaultGoAway, AfterChunks: -1, TimeLeft: 10 * time.Millisecond}})
	th.cfg.Live.Logger = th.cfg.Logger
	th.start()
	th.startTalk(t)
	ctx := th.ctx()
	sp := th.speaker(ctx, t, th.alice.ID)
	if err := sp.Speak(ctx, q.PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
		t.Fatal(err)
	}
	th.transcript(ctx, t, "**alice:** "+q.Text)
	th.logs.wait(t, "connection ended") // the goAway's close
	if err := sp.Speak(ctx, again.PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
		t.Fatal(err)
	}
	th.transcript(ctx, t, "**alice:** "+again.Text)
	if n := len(th.lv.Conns()); n != 2 {
		t.Fatalf("%d Live connections, want 2 (one resumption)", n)
	}
	if seen := th.lv.HandlesSeen(); len(seen) != 1 || seen[0] == "" {
		t.Fatalf("the second connection presented handles %q, want the first's", seen)
	}
}

// TestTalkIdleAndLeave: a talk nobody speaks in stops after
// BOT_TALK_IDLE_TIMEOUT with a notice; /leave stops one too.
func TestTalkIdleAndLeave(t *testing.T) {
	th := newTalkHarness(t, livetest.Options{Speed: 10})
	th.cfg.Talk.IdleTimeout = 300 * time.Millisecond
	th.start()
	th.startTalk(t)
	ctx := th.ctx()
	last := func(want string) func([]discordtest.Message) bool {
		return func(ms []discordtest.Message) bool {
			return len(ms) > 0 && strings.Contains(ms[len(ms)-1].Content, want)
		}
	}
	if _, err := th.dc.WaitChannelMessages(ctx, th.text.ID, last("nobody spoke for 1 second")); err != nil {
		t.Fatalf("no idle notice: %v; %+v", err, th.dc.ChannelMessages(th.text.ID))
	}
	th.startTalk(t)
	if _, err := th.run(th.alice, "leave", nil).WaitCallback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := th.dc.WaitChannelMessages(ctx, th.text.ID, last("Stopped listening in <#"+th.vc.ID+">: /leave")); err != nil {
		t.Fatalf("no /leave notice: %v; %+v", err, th.dc.ChannelMessages(th.text.ID))
	}
}

// TestTalkLiveRefuses: a key Gemini rejects stops the talk with the reason
// in the channel, instead of listening to no avail.
func TestTalkLiveRefuses(t *testing.T) {
	th := newTalkHarness(t, livetest.Options{Speed: 10})
	th.cfg.Live.APIKey = "not-the-key"
	th.start()
	th.startTalk(t)
	ctx := th.ctx()
	ms, err := th.dc.WaitChannelMessages(ctx, th.text.ID, func(ms []discordtest.Message) bool {
		return len(ms) > 0 && strings.Contains(ms[len(ms)-1].Content, "Stopped listening")
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := ms[len(ms)-1].Content; !strings.Contains(c, "Gemini Live refused") || strings.Contains(c, "not-the-key") {
		t.Fatalf("notice %q", c)
	}
}

// TestTalkBudget: spoken turns spend the same daily budgets as typed ones.
// alice's one-token budget is spent by her first spoken exchange (recorded
// with audio input), so listening stops with a notice saying when it
// resets; /talk again is refused with the same reason, and Live hears
// nothing more.
func TestTalkBudget(t *testing.T) {
	th := newTalkHarness(t, livetest.Options{Speed: 10})
	st := openStore(t, store.Config{DataDir: th.cfg.DataDir, UserDaily: store.Budget{Tokens: 1}})
	th.cfg.Store = st
	th.start()
	th.startTalk(t)
	ctx := th.ctx()
	sp := th.speaker(ctx, t, th.alice.ID)
	q := phrase(t, "weather")
	if err := sp.Speak(ctx, q.PCM, voicetest.SpeakOptions{Gate: true}); err != nil {
		t.Fatal(err)
	}
	ms, err := th.dc.WaitChannelMessages(ctx, th.text.ID, func(ms []discordtest.Message) bool {
		return len(ms) > 0 && strings.Contains(ms[len(ms)-1].Content, "Stopped listening")
	})
	if err != nil {
		t.Fatalf("no stop notice: %v", err)
	}
	if c := ms[len(ms)-1].Content; !strings.Contains(c, "budget is spent") || !strings.Contains(c, "resets <t:") {
		t.Fatalf("stop notice %q does not say the budget is spent and when it resets", c)
	}
	r, err := st.UsageReport(ctx, th.guild.ID, time.Now(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Today.Turns != 1 || r.Today.Tokens.PromptAudio == 0 {
		t.Fatalf("usage today %+v: want the spoken turn, with audio prompt tokens", r.Today)
	}
	conns := len(th.lv.Conns())
	msg, err := th.run(th.alice, "talk", nil).WaitOriginal(ctx, func(m discordtest.Message) bool { return m.Content != "" })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg.Content, "budget") || !strings.Contains(msg.Content, "I'm not listening") {
		t.Fatalf("/talk over budget answered %q", msg.Content)
	}
	if n := len(th.lv.Conns()); n != conns {
		t.Fatalf("/talk over budget opened a Live connection (%d → %d)", conns, n)
	}
}

// TestTalkImage: during a talk, a picture shown with /ask image: goes into
// the talk's own Live session (the conversation the speakers share), as an
// image part beside the prompt, and the answer is spoken in the channel.
// (Images in ordinary messages are not read: that needs the privileged
// MESSAGE_CONTENT intent; docs/internals.md, "Images and /talk".)
func TestTalkImage(t *testing.T) {
	th := newTalkHarness(t, livetest.Options{Speed: 10})
	var mu sync.Mutex
	var got []livetest.Request
	th.lv.Respond(func(r livetest.Request) livetest.Reply {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
		return livetest.Reply{}
	})
	th.start()
	th.startTalk(t)
	ctx := th.ctx()
	pic := testPNG(40, 30)
	img := serveImage(t, pic)
	m := answered(t, th.askImage("What is on this screenshot?", discordtest.Attachment{Filename: "shot.png",
		ContentType: "image/png", URL: img.srv.URL + "/shot.png", Size: len(pic)}))
	if !strings.Contains(m.Content, livetest.DefaultTranscript("What is on this screenshot?")) {
		t.Fatalf("answer %q", m.Content)
	}
	mu.Lock()
	var withImage *livetest.Request
	for i := range got {
		if got[i].Prompt == "What is on this screenshot?" {
			withImage = &got[i]
		}
	}
	mu.Unlock()
	if withImage == nil || len(withImage.Images) != 1 {
		t.Fatalf("Live got %+v, want the prompt with one image", got)
	}
	if n := len(th.lv.Conns()); n != 1 {
		t.Fatalf("%d Live connections after the image, want one: the session the talk and /ask share", n)
	}
	if _, err := th.vt.WaitFrames(ctx, th.dc.AppID(), func(fs []voicetest.Frame) bool { return silenceFrames(fs) >= 5 && len(fs) > 20 }); err != nil {
		t.Fatalf("the answer about the image was not spoken: %v", err)
	}
}
