package bot_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecord/livecord/admin"
	"github.com/livecord/livecord/audio/ogg"
	"github.com/livecord/livecord/audio/wav"
	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
)

// waitContent waits until the original response contains want.
func waitContent(t *testing.T, ia *discordtest.Interaction, want string) discordtest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := ia.WaitOriginal(ctx, func(m discordtest.Message) bool { return strings.Contains(m.Content, want) })
	if err != nil {
		t.Fatalf("waiting for %q: %v", want, err)
	}
	return m
}

func TestQueuePositionsAndCap(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.QueueCap = 2
	release := h.hold("first")
	h.start()

	first := h.ask(h.alice, "first")
	waitContent(t, first, "Thinking…")
	second := h.ask(h.bob, "second")
	waitContent(t, second, "you're **#1**")
	third := h.ask(h.carol, "third")
	waitContent(t, third, "you're **#2**")

	full := h.ask(h.alice, "fourth <@"+h.bob.ID+">")
	// Acknowledged first (the defer looks at no queue), then told.
	msg := waitContent(t, full, "Too many questions")
	if !strings.Contains(msg.Content, "> fourth <@"+h.bob.ID+">") || len(msg.Pings()) != 0 {
		t.Fatalf("queue-full answer = %q (pings %v)", msg.Content, msg.Pings())
	}

	release()
	for _, ia := range []*discordtest.Interaction{first, second, third} {
		m := answered(t, ia)
		if len(m.Attachments) != 1 {
			t.Errorf("%q: no audio attached", m.Content)
		}
	}
	moved := false
	for _, v := range third.History() {
		moved = moved || strings.Contains(v.Content, "you're **#1**")
	}
	if !moved {
		t.Error("the third asker never saw their position move to #1")
	}
	if got := h.lv.Prompts(); strings.Join(got, ",") != "first,second,third" {
		t.Errorf("Live got turns %q, want first,second,third in order", got)
	}
}

func TestCooldown(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.Cooldown = time.Hour
	h.start()
	answered(t, h.ask(h.alice, "one"))
	msg := ephemeral(t, h.ask(h.alice, "two"))
	if !strings.Contains(msg, "Slow down") || !strings.Contains(msg, "> two") {
		t.Fatalf("cooldown answer = %q", msg)
	}
	answered(t, h.ask(h.bob, "bob is not cooling down"))
	if got := h.lv.Prompts(); len(got) != 2 {
		t.Fatalf("Live got %q", got)
	}
}

func TestAllowLists(t *testing.T) {
	t.Run("guild", func(t *testing.T) {
		h := newHarness(t, discordtest.Options{}, livetest.Options{})
		h.cfg.AllowedGuilds = []string{"1234567890"}
		h.start()
		msg := ephemeral(t, h.ask(h.alice, "let me in"))
		if !strings.Contains(msg, "isn't enabled in this server") || !strings.Contains(msg, "> let me in") {
			t.Fatalf("answer = %q", msg)
		}
	})
	t.Run("roles", func(t *testing.T) {
		h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
		role := h.dc.AddRole(h.guild.ID, "askers", discordtest.DefaultPermissions)
		h.dc.AddMember(h.guild.ID, h.bob, role.ID)
		h.cfg.AllowedGuilds = []string{h.guild.ID}
		h.cfg.AllowedRoles = []string{role.ID}
		h.cfg.GuildID = "" // global commands, so that DMs have /ask too
		h.start()
		msg := ephemeral(t, h.ask(h.alice, "no role"))
		if !strings.Contains(msg, "roles allowed") || !strings.Contains(msg, "> no role") {
			t.Fatalf("answer = %q", msg)
		}
		answered(t, h.ask(h.bob, "with role"))
		ia, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{User: h.bob, Command: "ask",
			Options: map[string]any{"prompt": "in a DM"}})
		if err != nil {
			t.Fatal(err)
		}
		if msg := ephemeral(t, ia); !strings.Contains(msg, "not in DMs") {
			t.Fatalf("DM answer = %q", msg)
		}
		if got := h.lv.Prompts(); len(got) != 1 || got[0] != "with role" {
			t.Fatalf("Live got %q", got)
		}
	})
}

func TestResetStartsFreshConversation(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	histories := h.histories()
	h.start()
	answered(t, h.ask(h.alice, "one"))
	answered(t, h.ask(h.bob, "two"))
	waitContent(t, h.run(h.alice, "reset", nil), "fresh conversation")
	answered(t, h.ask(h.alice, "three"))
	history := histories()
	if history["one"] != 0 || history["two"] != 1 || history["three"] != 0 {
		t.Fatalf("history lengths seen by Live: %v; want one:0 two:1 three:0", history)
	}
	if n := len(h.lv.Conns()); n != 2 {
		t.Fatalf("%d Live connections, want 2 (one session across two turns, a new one after /reset)", n)
	}
}

func TestVoicePersistsAcrossRestart(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.start()

	ia, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{GuildID: h.guild.ID, ChannelID: h.text.ID, User: h.alice,
		Command: "voice", Options: map[string]any{"name": "er"}, Focused: "name"})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := ia.WaitCallback(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if cb.Type != discordtest.CallbackAutocomplete || len(cb.Choices) == 0 || cb.Choices[0].Name != "Erinome" {
		t.Fatalf("autocomplete = %+v", cb)
	}
	for _, c := range cb.Choices {
		if !strings.Contains(strings.ToLower(c.Name), "er") {
			t.Errorf("choice %q does not match %q", c.Name, "er")
		}
	}
	if msg := ephemeral(t, h.run(h.alice, "voice", map[string]any{"name": "Bogus"})); !strings.Contains(msg, "isn't one of the voices") {
		t.Fatalf("bad voice answer = %q", msg)
	}
	waitContent(t, h.run(h.alice, "voice", map[string]any{"name": "kore"}), "**Kore**")

	h.stop()
	h.start() // same data directory
	if n := h.dc.Overwrites(); n != 1 {
		t.Errorf("%d command registrations, want 1: unchanged definitions must not be re-sent", n)
	}
	answered(t, h.ask(h.bob, "which voice?"))
	if setup := string(h.lv.LastSetup()); !strings.Contains(setup, `"Kore"`) {
		t.Fatalf("Live setup after restart does not use Kore:\n%s", setup)
	}
}

func TestOversizedReplyFallsBackToOgg(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.start()
	prompt := "Please describe the sea and the sky at dusk in a few sentences."
	pcm, _ := livetest.Speak(prompt)
	wavSize := wav.HeaderSize + 2*len(pcm)
	invoke := func(limit int) discordtest.Message {
		ia, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{GuildID: h.guild.ID, ChannelID: h.text.ID,
			User: h.alice, Command: "ask", Options: map[string]any{"prompt": prompt}, AttachmentSizeLimit: limit})
		if err != nil {
			t.Fatal(err)
		}
		return answered(t, ia)
	}

	m := invoke(wavSize / 4)
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "reply.ogg" || !strings.Contains(m.Content, "Ogg/Opus") {
		t.Fatalf("over the limit: attachments %+v, content:\n%s", m.Attachments, m.Content)
	}
	pk, err := ogg.Packets(m.Attachments[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	var head ogg.OpusHead
	if err := head.UnmarshalBinary(pk[0]); err != nil || head.InputSampleRate != 24000 || head.Channels != 1 {
		t.Fatalf("OpusHead %+v, %v", head, err)
	}
	if frames := len(pk) - 2; frames != (len(pcm)+479)/480 {
		t.Fatalf("%d Opus frames for %d samples", frames, len(pcm))
	}

	m = invoke(1000)
	if len(m.Attachments) != 0 || !strings.Contains(m.Content, "too long to attach") {
		t.Fatalf("far over the limit: attachments %+v, content:\n%s", m.Attachments, m.Content)
	}
	m = invoke(wavSize)
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "reply.wav" {
		t.Fatalf("at the limit: attachments %+v", m.Attachments)
	}
}

func TestMentionsNeverPing(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	role := h.dc.AddRole(h.guild.ID, "mods", 0)
	h.start()
	short, _ := livetest.Speak("hi")
	reply := "@everyone listen, <@&" + role.ID + "> and <@" + h.bob.ID + ">, @here too."
	h.lv.Script(livetest.Reply{Transcript: reply, PCM: short})
	prompt := "shout @everyone and <@" + h.bob.ID + ">"
	ia := h.ask(h.alice, prompt)
	m := answered(t, ia)
	if !strings.Contains(m.Content, reply) || !strings.Contains(m.Content, "> "+prompt) {
		t.Fatalf("final message:\n%s", m.Content)
	}
	for _, v := range ia.History() {
		if v.Flags&discordtest.FlagLoading != 0 {
			continue
		}
		if p := v.Pings(); len(p) != 0 || v.AllowedMentions == nil {
			t.Errorf("%q would ping %v", v.Content, p)
		}
	}
	// An error echoing the prompt must not ping either.
	h.lv.RejectSetup(1008, "Requested entity was not found.")
	waitContent(t, h.run(h.alice, "reset", nil), "fresh conversation") // a new session: a new setup
	ia = h.ask(h.bob, prompt)
	m = answered(t, ia)
	if p := m.Pings(); len(p) != 0 || !strings.Contains(m.Content, "⚠️") || !strings.Contains(m.Content, "> "+prompt) {
		t.Fatalf("error message %q pings %v", m.Content, p)
	}
}

func TestLiveErrorsInPlainWords(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	met := admin.NewMetrics()
	h.cfg.Metrics = met
	h.start()
	tests := []struct {
		code   int
		reason string
		class  live.ErrorClass
	}{
		{1007, "API key not valid. Please pass a valid API key.", live.ClassAuth},
		{1008, "models/gemini-2.0-flash-live-001 is not found for API version v1beta, or is not supported for bidiGenerateContent. Call ListMo", live.ClassNotFound},
		{1011, "You exceeded your current quota, please check your plan and billing details.", live.ClassQuota},
		{1011, "The service is currently unavailable.", live.ClassTransient},
		{1007, "Invalid value at 'setup.generation_config'", live.ClassInvalidConfig},
	}
	for i, tt := range tests {
		t.Run(tt.class.String(), func(t *testing.T) {
			h.lv.RejectSetup(tt.code, tt.reason)
			if tt.class == live.ClassTransient {
				h.lv.RejectSetup(tt.code, tt.reason) // the bot retries a transient failure once
			}
			prompt := "question " + string(rune('A'+i))
			m := answered(t, h.ask(h.alice, prompt))
			want := (&live.Error{Class: tt.class}).UserMessage()
			if !strings.Contains(m.Content, want) || !strings.Contains(m.Content, "> "+prompt) {
				t.Fatalf("message for %s:\n%s\nwant %q and the prompt", tt.class, m.Content, want)
			}
			if strings.Contains(m.Content, tt.reason) || strings.Contains(m.Content, h.lv.Key) {
				t.Fatalf("message leaks internals:\n%s", m.Content)
			}
			if n := metric(t, met.Errors.WithLabelValues(tt.class.String())).GetCounter().GetValue(); n < 1 {
				t.Fatalf("errors{class=%s} = %v", tt.class, n)
			}
		})
	}
}

func TestLiveDropMidTurnPostsPartialReply(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.start()
	prompt := "Tell me a long story about a lighthouse keeper and the storm."
	full, transcript := livetest.Speak(prompt)
	h.lv.Script(livetest.Reply{Fault: livetest.Fault{Kind: livetest.FaultDrop, AfterChunks: 2}})
	m := answered(t, h.ask(h.alice, prompt))
	if !strings.Contains(m.Content, "The answer was cut off") {
		t.Fatalf("partial reply not marked:\n%s", m.Content)
	}
	if len(m.Attachments) != 1 {
		t.Fatalf("partial reply has no audio: %+v", m.Attachments)
	}
	f, err := wav.Decode(m.Attachments[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if want := pcmBytes(full)[:2*11520]; !bytes.Equal(f.Data, want) {
		t.Fatalf("partial WAV has %d bytes, want the first two chunks (%d bytes) of the emulator's audio", len(f.Data), len(want))
	}
	if strings.Contains(m.Content, transcript) {
		t.Fatalf("a cut-off reply shows the whole transcript:\n%s", m.Content)
	}
	// The conversation recovers on the next turn.
	m = answered(t, h.ask(h.bob, "are you back?"))
	if strings.Contains(m.Content, "cut off") || len(m.Attachments) != 1 {
		t.Fatalf("next turn after a drop:\n%s", m.Content)
	}
}

func TestLongReplyIsSplit(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.start()
	short, _ := livetest.Speak("ok")
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 100) // 4500 characters
	h.lv.Script(livetest.Reply{Transcript: long, PCM: short})
	ia := h.ask(h.alice, "talk a lot")
	m := answered(t, ia)
	fs, err := ia.WaitFollowups(h.ctx(), 2)
	if err != nil {
		t.Fatal(err)
	}
	all := m.Content
	for _, f := range fs {
		if len([]rune(f.Content)) > 2000 || f.AllowedMentions == nil {
			t.Fatalf("follow-up of %d chars, allowed_mentions %s", len([]rune(f.Content)), f.AllowedMentions)
		}
		all += " " + f.Content
	}
	if got := strings.Join(strings.Fields(all), " "); !strings.Contains(got, strings.TrimSpace(long)) {
		t.Fatal("the split messages do not hold the whole transcript")
	}
	if len(m.Attachments) != 1 {
		t.Fatal("the audio is not attached to the first message")
	}
}

func TestDMGetsTextAndWAV(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.GuildID = ""
	h.start()
	ia, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{User: h.alice, Command: "ask",
		Options: map[string]any{"prompt": "hello from a DM"}})
	if err != nil {
		t.Fatal(err)
	}
	m := answered(t, ia)
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "reply.wav" {
		t.Fatalf("DM reply attachments %+v", m.Attachments)
	}
	if _, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{User: h.alice, Command: "join"}); err == nil {
		t.Fatal("/join is offered in DMs")
	}
}

// TestIdleCloseAndResume: after IdleTimeout the Live session is closed and
// the conversation dropped from memory; the next turn resumes it by handle,
// so Live still has the earlier context.
func TestIdleCloseAndResume(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.IdleTimeout = 200 * time.Millisecond
	met := admin.NewMetrics()
	h.cfg.Metrics = met
	held := func() float64 { return metric(t, met.Conversations).GetGauge().GetValue() }
	var mu sync.Mutex
	var seen []livetest.Request
	var heldDuring []float64
	h.lv.Respond(func(r livetest.Request) livetest.Reply {
		mu.Lock()
		seen = append(seen, r)
		heldDuring = append(heldDuring, held())
		mu.Unlock()
		return livetest.Reply{}
	})
	h.start()
	answered(t, h.ask(h.alice, "remember the number seven"))
	h.logs.wait(t, "conversation idle: live session closed")
	for held() != 0 {
		select {
		case <-h.ctx().Done():
			t.Fatalf("the idle conversation is still held (%v)", held())
		case <-time.After(5 * time.Millisecond):
		}
	}
	answered(t, h.ask(h.bob, "what was the number?"))
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(heldDuring, []float64{1, 1}) {
		t.Fatalf("conversations held during the two turns: %v, want [1 1]", heldDuring)
	}
	if len(seen) != 2 || !seen[1].Resumed || len(seen[1].History) != 1 {
		t.Fatalf("second turn: resumed=%v history=%d; want a resumed session holding the first turn",
			len(seen) == 2 && seen[1].Resumed, len(seen[len(seen)-1].History))
	}
	if n := len(h.lv.Conns()); n != 2 {
		t.Fatalf("%d Live connections, want 2", n)
	}
	if hs := h.lv.HandlesSeen(); len(hs) != 1 || hs[0] == "" {
		t.Fatalf("handles presented: %q", hs)
	}
}

// TestGatewayDropResumes: after the gateway connection drops, or Discord
// asks for a reconnect (op 7), discordgo resumes the session and the bot
// keeps answering.
func TestGatewayDropResumes(t *testing.T) {
	for name, cut := range map[string]func(*discordtest.Server){
		"drop": (*discordtest.Server).DropGateway,
		"op 7": func(s *discordtest.Server) { s.RequestReconnect() },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
			h.start()
			answered(t, h.ask(h.alice, "before the "+name))
			cut(h.dc)
			if err := h.dc.WaitResumed(h.ctx(), 1); err != nil {
				t.Fatal(err)
			}
			answered(t, h.ask(h.bob, "after the "+name))
		})
	}
}

// TestSharding: two processes as shards 0 and 1 of 2 each answer their own
// guild's /ask (Discord routes by (guild_id >> 22) % 2); only shard 0
// registers the commands.
func TestSharding(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.GuildID = ""
	shardOf := func(guildID string) int {
		id, _ := strconv.ParseUint(guildID, 10, 64)
		return int((id >> 22) % 2)
	}
	if shardOf(h.guild.ID) == shardOf(h.dc.AddUser("spare").ID) { // the emulator's IDs alternate shards
		h.dc.AddUser("spare")
	}
	other := h.dc.AddGuild("second guild")
	if shardOf(h.guild.ID) == shardOf(other.ID) {
		t.Fatalf("both guilds on shard %d; the emulator's IDs should alternate", shardOf(other.ID))
	}
	otherText := h.dc.AddChannel(other.ID, "general", discordtest.ChannelText)
	h.dc.AddMember(other.ID, h.bob)
	logs := [2]*logSink{}
	for shard := range 2 {
		cfg := h.cfg
		cfg.ShardID, cfg.ShardCount = shard, 2
		cfg.DataDir = t.TempDir()
		logs[shard] = &logSink{changed: make(chan struct{})}
		cfg.Logger = slog.New(slog.NewTextHandler(logs[shard], nil))
		b, err := bot.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("shard %d: %v", shard, err)
			}
		})
		select {
		case <-b.Ready():
		case err := <-done:
			t.Fatalf("shard %d ended: %v", shard, err)
		}
	}
	if n := h.dc.Overwrites(); n != 1 {
		t.Fatalf("%d command registrations, want 1 (shard 0 only)", n)
	}
	answered(t, h.ask(h.alice, "first guild"))
	ia, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{GuildID: other.ID, ChannelID: otherText.ID, User: h.bob,
		Command: "ask", Options: map[string]any{"prompt": "second guild"}})
	if err != nil {
		t.Fatal(err)
	}
	answered(t, ia)
	for guild, shard := range map[string]int{h.guild.ID: shardOf(h.guild.ID), other.ID: shardOf(other.ID)} {
		logs[shard].wait(t, `msg="ask answered" conversation=guild:`+guild)
	}
	for guild, shard := range map[string]int{h.guild.ID: shardOf(h.guild.ID), other.ID: shardOf(other.ID)} {
		if strings.Contains(logs[1-shard].String(), "conversation=guild:"+guild) {
			t.Errorf("shard %d answered guild %s, which is not its own", 1-shard, guild)
		}
	}
}

// TestStaleHandleStartsFresh: a kept resumption handle the server no longer
// knows ("session not found") is dropped and the turn runs on a new session.
func TestStaleHandleStartsFresh(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	state := `{"handles":{"guild:` + h.guild.ID + `":"stale-handle"}}`
	if err := os.WriteFile(filepath.Join(h.cfg.DataDir, "livecord-state.json"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	m := answered(t, h.ask(h.alice, "are you there?"))
	if strings.Contains(m.Content, "⚠️") || len(m.Attachments) != 1 {
		t.Fatalf("answer:\n%s", m.Content)
	}
	if hs := h.lv.HandlesSeen(); len(hs) != 1 || hs[0] != "stale-handle" {
		t.Fatalf("handles presented: %q", hs)
	}
	if n := len(h.lv.Conns()); n != 2 {
		t.Fatalf("%d Live connections, want 2 (the stale resume, then a fresh session)", n)
	}
}

// TestTransientDialFailureRetried: one transient Live failure at dial is
// retried and the asker gets a normal answer.
func TestTransientDialFailureRetried(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.start()
	h.lv.RejectSetup(1011, "The service is currently unavailable.")
	m := answered(t, h.ask(h.alice, "hello?"))
	if strings.Contains(m.Content, "⚠️") || len(m.Attachments) != 1 {
		t.Fatalf("answer after one transient failure:\n%s", m.Content)
	}
	if n := len(h.lv.Conns()); n != 2 {
		t.Fatalf("%d Live connections, want 2", n)
	}
}
