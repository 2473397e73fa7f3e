package discordtest_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/internal/nodetest"
)

// TestDiscordJSFidelity logs a discord.js bot (@discordjs/core, /ws, /rest
// from npm) into the emulator: it must receive READY and GUILD_CREATE,
// register commands by bulk overwrite, answer an interaction with a message
// (type 4), another with a defer (type 5), a multipart edit and a burst of
// edits paced by the rate-limit headers, an autocomplete (type 8), and get
// VOICE_SERVER_UPDATE after op 4.
func TestDiscordJSFidelity(t *testing.T) {
	nodetest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	srv := discordtest.NewServer(t, discordtest.Options{
		WebhookLimit: 2, WebhookWindow: 400 * time.Millisecond,
		VoiceServer: func(guildID, channelID, userID, sessionID string) (string, string) {
			return "voice.test:4242", "vtok-" + channelID
		},
	})
	g := srv.AddGuild("fidelity")
	text := srv.AddChannel(g.ID, "general", discordtest.ChannelText)
	vc := srv.AddChannel(g.ID, "Voice", discordtest.ChannelVoice)
	alice := srv.AddUser("alice")
	srv.AddMember(g.ID, alice)
	srv.SetVoiceState(g.ID, alice.ID, vc.ID)

	node := nodetest.Start(ctx, t, "discordjs-bot.mjs", nil, srv.URL()+"/api", srv.Token(), srv.AppID())
	// Events the test is not waiting for yet are kept, not dropped: discord.js
	// may print "ready" (after its command PUT) before or after "guild".
	pending := map[string][]map[string]any{}
	next := func(want string) map[string]any {
		t.Helper()
		if evs := pending[want]; len(evs) > 0 {
			pending[want] = evs[1:]
			return evs[0]
		}
		for {
			line, err := node.Next(ctx)
			if err != nil {
				t.Fatalf("waiting for discord.js event %q: %v", want, err)
			}
			var ev map[string]any
			if json.Unmarshal(line, &ev) != nil {
				continue
			}
			if ev["event"] == "error" {
				t.Fatalf("discord.js error: %v", ev)
			}
			if ev["event"] == want {
				return ev
			}
			name, _ := ev["event"].(string)
			pending[name] = append(pending[name], ev)
		}
	}

	guild := next("guild")
	if guild["id"] != g.ID || guild["channels"] != float64(2) || guild["voice_states"] != float64(1) {
		t.Fatalf("GUILD_CREATE as discord.js saw it: %v", guild)
	}
	ready := next("ready")
	if ready["user"] != srv.AppID() {
		t.Fatalf("READY user = %v, want %s", ready["user"], srv.AppID())
	}
	var names []string
	for _, c := range srv.Commands("") {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"ping", "slow", "pick"}) || srv.Overwrites() != 1 {
		t.Fatalf("registered %v in %d overwrites", names, srv.Overwrites())
	}

	// Type 4.
	ia, err := srv.Invoke(ctx, discordtest.Invocation{GuildID: g.ID, ChannelID: text.ID, User: alice, Command: "ping"})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := ia.WaitCallback(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Type != discordtest.CallbackMessage || cb.Message.Content != "pong <@"+alice.ID+"> @everyone" {
		t.Fatalf("ping callback = %+v", cb)
	}
	if p := cb.Message.Pings(); len(p) != 0 {
		t.Fatalf("ping would notify %v", p)
	}
	next("handled")

	// Type 5, then a multipart edit of @original.
	ia, err = srv.Invoke(ctx, discordtest.Invocation{GuildID: g.ID, ChannelID: text.ID, User: alice, Command: "slow",
		Options: map[string]any{"channel": vc.ID}})
	if err != nil {
		t.Fatal(err)
	}
	cb, err = ia.WaitCallback(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Type != discordtest.CallbackDeferred || cb.Message.Flags != discordtest.FlagEphemeral|discordtest.FlagLoading {
		t.Fatalf("slow callback = %+v", cb)
	}
	m, err := ia.WaitOriginal(ctx, func(m discordtest.Message) bool { return m.Content == "done 4" })
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, v := range ia.History() {
		versions = append(versions, v.Content)
	}
	if !slices.Equal(versions, []string{"", "done", "done 1", "done 2", "done 3", "done 4"}) {
		t.Fatalf("versions of the original: %q", versions)
	}
	// @discordjs/rest paces a bucket from X-RateLimit-Remaining/Reset-After:
	// a 429 here would mean the emulator's headers misled it.
	if n := srv.RateLimited(); n != 0 {
		t.Errorf("discord.js hit %d rate limits during the burst", n)
	}
	if m.Content != "done 4" || len(m.Attachments) != 1 || m.Attachments[0].Name != "hello.txt" ||
		string(m.Attachments[0].Data) != "hello from discord.js" || m.Flags != discordtest.FlagEphemeral {
		t.Fatalf("edited original = %+v", m)
	}
	vs := next("voice_server")
	if vs["endpoint"] != "voice.test:4242" || vs["token"] != "vtok-"+vc.ID || vs["guild"] != g.ID {
		t.Fatalf("VOICE_SERVER_UPDATE = %v", vs)
	}
	if got := srv.VoiceChannel(g.ID, srv.AppID()); got != vc.ID {
		t.Fatalf("bot voice channel = %q, want %q", got, vc.ID)
	}

	// Op 7: discord.js closes and resumes (op 6) on a new connection, which
	// then carries the next interaction.
	if n := srv.RequestReconnect(); n != 1 {
		t.Fatalf("op 7 sent on %d connections", n)
	}
	if err := srv.WaitResumed(ctx, 1); err != nil {
		t.Fatalf("discord.js did not resume after op 7: %v", err)
	}

	// Autocomplete (type 8).
	ia, err = srv.Invoke(ctx, discordtest.Invocation{GuildID: g.ID, ChannelID: text.ID, User: alice, Command: "pick",
		Options: map[string]any{"what": "ap"}, Focused: "what"})
	if err != nil {
		t.Fatal(err)
	}
	cb, err = ia.WaitCallback(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Type != discordtest.CallbackAutocomplete || len(cb.Choices) != 2 || cb.Choices[0].Name != "apple" {
		t.Fatalf("autocomplete callback = %+v", cb)
	}
}
