package bot_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/voice/voicetest"
)

// TestVoiceSeam: /join goes through op 4 to a voice connection the voice
// server accepts (the session and token the gateway handed out); /ask is
// spoken there, reusing the /join connection, as the whole reply and one
// silence tail; /leave disconnects; alone in the channel the bot leaves.
func TestVoiceSeam(t *testing.T) {
	h, vt := newVoiceHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.dc.SetVoiceState(h.guild.ID, h.alice.ID, "")
	h.start()
	call := voicetest.CallID{GuildID: h.guild.ID, ChannelID: h.vc.ID}
	botID := h.dc.AppID()

	if msg := ephemeral(t, h.run(h.alice, "join", nil)); !strings.Contains(msg, "Join a voice channel first") {
		t.Fatalf("/join outside voice = %q", msg)
	}
	h.dc.SetVoiceState(h.guild.ID, h.alice.ID, h.vc.ID)
	join := h.run(h.alice, "join", nil)
	waitContent(t, join, "Joined <#"+h.vc.ID+">")
	if err := h.dc.WaitVoiceChannel(h.ctx(), h.guild.ID, botID, h.vc.ID); err != nil {
		t.Fatalf("bot not in %s: %v", h.vc.ID, err)
	}
	if m := vt.Members(call); !slices.Contains(m, botID) {
		t.Fatalf("voice call members %v lack the bot", m)
	}
	joined, _ := vt.Member(botID)

	prompt := "say something out loud"
	pcm, _ := livetest.Speak(prompt)
	answered(t, h.ask(h.alice, prompt))
	answered(t, h.ask(h.bob, "bob is not in voice"))
	// 480 samples of Live's 24 kHz are one 20 ms frame.
	want := (len(pcm) + 479) / 480
	fs, err := vt.WaitFrames(h.ctx(), botID, func(fs []voicetest.Frame) bool {
		return len(fs) >= want+5 && fs[len(fs)-1].IsSilence()
	})
	if err != nil {
		t.Fatal(err)
	}
	audio, silence := 0, 0
	for _, f := range fs {
		if f.SSRC != joined.SSRC {
			t.Fatalf("frame on SSRC %d, want the /join connection's %d", f.SSRC, joined.SSRC)
		}
		if f.IsSilence() {
			silence++
		} else {
			audio++
		}
	}
	if audio < want || audio > want+1 || silence != 5 {
		t.Fatalf("voice got %d audio and %d silence frames; want the reply's %d (+1 for the resampler tail) and one tail of 5",
			audio, silence, want)
	}

	if m := waitContent(t, h.run(h.alice, "leave", nil), "Left"); m.Flags&discordtest.FlagEphemeral == 0 {
		t.Fatalf("/leave answer %q is not ephemeral", m.Content)
	}
	if err := h.dc.WaitVoiceChannel(h.ctx(), h.guild.ID, botID, ""); err != nil {
		t.Fatalf("bot still in a voice channel after /leave: %v", err)
	}
	if msg := ephemeral(t, h.run(h.alice, "leave", nil)); !strings.Contains(msg, "not in a voice channel") {
		t.Fatalf("second /leave = %q", msg)
	}

	// Alone in the channel, the bot leaves by itself.
	waitContent(t, h.run(h.alice, "join", nil), "Joined")
	if err := h.dc.WaitVoiceChannel(h.ctx(), h.guild.ID, botID, h.vc.ID); err != nil {
		t.Fatal(err)
	}
	h.dc.SetVoiceState(h.guild.ID, h.alice.ID, "")
	if err := h.dc.WaitVoiceChannel(h.ctx(), h.guild.ID, botID, ""); err != nil {
		t.Fatalf("the bot stayed in an empty channel: %v", err)
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
	h, vt := newVoiceHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
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
	if m := vt.Members(voicetest.CallID{GuildID: h.guild.ID, ChannelID: h.vc.ID}); len(m) != 0 || h.dc.VoiceChannel(h.guild.ID, h.dc.AppID()) != "" {
		t.Fatalf("the bot tried to join: voice members %v", m)
	}
}
