package bot_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
)

// fakeVoice records what the bot hands to the voice seam.
type fakeVoice struct {
	mu       sync.Mutex
	dials    []bot.VoiceServer
	speakers []*fakeSpeaker
}

func (f *fakeVoice) DialVoice(_ context.Context, vs bot.VoiceServer, _ func(context.Context) (bot.VoiceServer, error)) (bot.Speaker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sp := &fakeSpeaker{}
	f.dials = append(f.dials, vs)
	f.speakers = append(f.speakers, sp)
	return sp, nil
}

func (f *fakeVoice) state() ([]bot.VoiceServer, []*fakeSpeaker) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bot.VoiceServer(nil), f.dials...), append([]*fakeSpeaker(nil), f.speakers...)
}

type fakeSpeaker struct {
	mu     sync.Mutex
	pcm    bytes.Buffer
	ends   int
	closed bool
}

func (s *fakeSpeaker) Audio(pcm []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pcm.Write(pcm)
	return nil
}
func (s *fakeSpeaker) Interrupt() {}
func (s *fakeSpeaker) EndOfTurn(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ends++
	return nil
}
func (s *fakeSpeaker) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// TestVoiceSeam: /join goes through op 4 to the voice dialer with the
// gateway's voice server; /ask streams exactly Live's PCM to the speaker;
// /leave disconnects.
func TestVoiceSeam(t *testing.T) {
	h := newHarness(t, discordtest.Options{VoiceServer: func(guildID, channelID, userID, sessionID string) (string, string) {
		return "voice.local:1234", "tok-" + channelID
	}}, livetest.Options{Speed: 50})
	fv := &fakeVoice{}
	h.cfg.Voice = fv
	h.start()

	if msg := ephemeral(t, h.run(h.alice, "join", nil)); !strings.Contains(msg, "Join a voice channel first") {
		t.Fatalf("/join outside voice = %q", msg)
	}
	h.dc.SetVoiceState(h.guild.ID, h.alice.ID, h.vc.ID)
	join := h.run(h.alice, "join", nil)
	waitContent(t, join, "Joined <#"+h.vc.ID+">")
	dials, _ := fv.state()
	if len(dials) != 1 {
		t.Fatalf("%d voice dials", len(dials))
	}
	vs := dials[0]
	if vs.GuildID != h.guild.ID || vs.ChannelID != h.vc.ID || vs.Endpoint != "voice.local:1234" ||
		vs.Token != "tok-"+h.vc.ID || vs.SessionID == "" || vs.UserID != h.dc.AppID() {
		t.Fatalf("voice server handed to the dialer: %+v", vs)
	}
	if err := h.dc.WaitVoiceChannel(h.ctx(), h.guild.ID, h.dc.AppID(), h.vc.ID); err != nil {
		t.Fatalf("bot not in %s: %v", h.vc.ID, err)
	}

	prompt := "say something out loud"
	pcm, _ := livetest.Speak(prompt)
	answered(t, h.ask(h.alice, prompt))
	answered(t, h.ask(h.bob, "bob is not in voice"))
	dials, sps := fv.state()
	if len(dials) != 1 {
		t.Fatalf("%d voice dials, want the /join connection reused", len(dials))
	}
	sp := sps[0]
	sp.mu.Lock()
	got, ends := sp.pcm.Bytes(), sp.ends
	sp.mu.Unlock()
	if !bytes.Equal(got, pcmBytes(pcm)) || ends != 1 {
		t.Fatalf("speaker got %d bytes and %d end-of-turns; want exactly the emulator's %d bytes and 1",
			len(got), ends, 2*len(pcm))
	}

	if msg := ephemeral(t, h.run(h.alice, "leave", nil)); !strings.Contains(msg, "Left") {
		t.Fatalf("/leave = %q", msg)
	}
	if err := h.dc.WaitVoiceChannel(h.ctx(), h.guild.ID, h.dc.AppID(), ""); err != nil {
		t.Fatalf("bot still in a voice channel after /leave: %v", err)
	}
	sp.mu.Lock()
	closed := sp.closed
	sp.mu.Unlock()
	if !closed {
		t.Fatal("speaker not closed by /leave")
	}

	// Alone in the channel, the bot leaves by itself.
	waitContent(t, h.run(h.alice, "join", nil), "Joined")
	if err := h.dc.WaitVoiceChannel(h.ctx(), h.guild.ID, h.dc.AppID(), h.vc.ID); err != nil {
		t.Fatal(err)
	}
	h.dc.SetVoiceState(h.guild.ID, h.alice.ID, "")
	if err := h.dc.WaitVoiceChannel(h.ctx(), h.guild.ID, h.dc.AppID(), ""); err != nil {
		t.Fatalf("the bot stayed in an empty channel: %v", err)
	}
	if _, sps := fv.state(); len(sps) != 2 {
		t.Fatalf("%d voice connections, want 2", len(sps))
	}
}

// TestShutdownTellsAskers: stopping the bot mid-turn posts what happened,
// with the prompts, to the asker of the running turn and to those queued.
func TestShutdownTellsAskers(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	release := h.hold("slow")
	h.start()
	slow := h.ask(h.alice, "slow")
	waitContent(t, slow, "Thinking…")
	queued := h.ask(h.bob, "queued")
	waitContent(t, queued, "#1")
	h.stop()
	for _, c := range []struct {
		ia     *discordtest.Interaction
		prompt string
	}{{slow, "slow"}, {queued, "queued"}} {
		m := waitContent(t, c.ia, "restarting")
		if !strings.Contains(m.Content, "> "+c.prompt) {
			t.Errorf("shutdown message lacks the prompt:\n%s", m.Content)
		}
	}
	release()
}

// TestShutdownBoundedWhenDiscordIsSlow: with Discord answering nothing in
// time, the goodbyes to a running and four queued askers share one grace
// period, so the bot still stops within 5 s (one at a time they would take
// 3 s each). discordgo spends about a second closing the gateway.
func TestShutdownBoundedWhenDiscordIsSlow(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	release := h.hold("slow")
	h.start()
	waitContent(t, h.ask(h.alice, "slow"), "Thinking…")
	for i := 1; i <= 4; i++ {
		waitContent(t, h.ask(h.bob, fmt.Sprintf("queued %d", i)), fmt.Sprintf("#%d", i))
	}
	h.dc.SetRESTLatency(time.Minute)
	start := time.Now()
	h.stop()
	took := time.Since(start)
	t.Logf("shutdown with 5 askers to tell and a Discord that never answers: %v", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Fatalf("shutdown took %v, want under 5 s", took)
	}
	release()
}

// TestJoinNeedsVoicePermissions: without Speak (taken from the @everyone
// role) or Connect (denied to the bot by the voice channel's overwrite) in
// the channel, /join says so and never asks the gateway; /ask answers in
// text with a note. Both are taken away while the bot runs: it must follow
// GUILD_ROLE_UPDATE and CHANNEL_UPDATE.
func TestJoinNeedsVoicePermissions(t *testing.T) {
	for name, c := range map[string]struct {
		take    func(h *harness)
		missing string // the permission the answers must name
		has     string // one they must not
	}{
		"role": {func(h *harness) {
			h.dc.SetRolePermissions(h.guild.ID, h.guild.ID, discordtest.DefaultPermissions&^discordtest.PermSpeak)
		}, "**Speak**", "**Connect**"},
		"channel overwrite": {func(h *harness) {
			h.dc.SetOverwrites(h.vc.ID, discordtest.Overwrite{ID: h.dc.AppID(), Type: discordtest.OverwriteMember, Deny: discordtest.PermConnect})
		}, "**Connect**", "**Speak**"},
	} {
		t.Run(name, func(t *testing.T) { testJoinNeedsVoicePermissions(t, c.take, c.missing, c.has) })
	}
}

func testJoinNeedsVoicePermissions(t *testing.T, take func(*harness), missing, has string) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	fv := &fakeVoice{}
	h.cfg.Voice = fv
	h.dc.SetVoiceState(h.guild.ID, h.alice.ID, h.vc.ID)
	h.start()
	take(h)
	m := waitContent(t, h.run(h.alice, "join", nil), "permission")
	if !strings.Contains(m.Content, "<#"+h.vc.ID+">") || !strings.Contains(m.Content, "missing the "+missing+" permission") ||
		strings.Contains(m.Content, "missing the "+has) {
		t.Fatalf("/join answer does not name exactly %s: %q", missing, m.Content)
	}
	m = answered(t, h.ask(h.alice, "can you speak?"))
	if !strings.Contains(m.Content, "missing the "+missing+" permission in your voice channel") || len(m.Attachments) != 1 {
		t.Fatalf("/ask answer:\n%s", m.Content)
	}
	if dials, _ := fv.state(); len(dials) != 0 || h.dc.VoiceChannel(h.guild.ID, h.dc.AppID()) != "" {
		t.Fatalf("the bot tried to join: %d dials", len(dials))
	}
}
