package bot_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecord/livecord/audio/speech"
	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
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

func newTalkHarness(t *testing.T, lopts livetest.Options) *talkHarness {
	t.Helper()
	h, vt := newVoiceHarness(t, discordtest.Options{}, lopts)
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

func phrase(t *testing.T, name string) speech.Phrase {
	t.Helper()
	p, err := speech.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startTalk has alice run /talk and waits for the notice.
func (th *talkHarness) startTalk(t *testing.T) string {
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
func (th *talkHarness) speaker(ctx context.Context, t *testing.T, userID string) *voicetest.Speaker {
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
func (th *talkHarness) transcript(ctx context.Context, t *testing.T, want string) discordtest.Message {
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
func (th *talkHarness) exchange(ctx context.Context, t *testing.T) bot.TalkExchange {
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
