package bot_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
)

// TestGuildWideCommandsNeedManageServer: /reset and /voice are registered
// with Manage Server as their default permission, and checked again when
// they run (a guild may grant the command to anyone in its integration
// settings): a plain member is refused and nothing changes; a member with
// one of DISCORD_ADMIN_ROLES, or with Manage Server, may.
func TestGuildWideCommandsNeedManageServer(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	admins := h.dc.AddRole(h.guild.ID, "bot admins", discordtest.DefaultPermissions)
	dave := h.dc.AddUser("dave")
	h.dc.AddMember(h.guild.ID, dave, admins.ID)
	h.cfg.AdminRoles = []string{admins.ID}
	histories := h.histories()
	h.start()

	for _, c := range h.dc.Commands(h.guild.ID) {
		var d struct {
			Perms *string `json:"default_member_permissions"`
		}
		if err := json.Unmarshal(c.Raw, &d); err != nil {
			t.Fatal(err)
		}
		// What a whole guild shares needs Manage Server; the rest is open.
		want := !slices.Contains([]string{"ask", "help", "join", "leave", "talk"}, c.Name)
		got := d.Perms != nil && *d.Perms == "32" // MANAGE_GUILD
		if want != got {
			t.Errorf("/%s default_member_permissions = %v, want Manage Server: %v", c.Name, d.Perms, want)
		}
	}

	answered(t, h.ask(h.bob, "one"))
	for _, ia := range []*discordtest.Interaction{
		h.run(h.bob, "reset", nil),
		h.run(h.bob, "voice", map[string]any{"name": "Puck"}),
	} {
		if msg := ephemeral(t, ia); !strings.Contains(msg, "Manage Server") || !strings.Contains(msg, "admin roles") {
			t.Errorf("refusal = %q, want it to name Manage Server and the admin roles", msg)
		}
	}
	answered(t, h.ask(h.bob, "two"))
	if got := histories()["two"]; got != 1 {
		t.Fatalf("after a refused /reset and /voice Live saw %d earlier turns, want 1 (the conversation kept)", got)
	}
	if n := len(h.lv.Conns()); n != 1 {
		t.Fatalf("%d Live sessions after a refused /voice, want 1", n)
	}

	waitContent(t, h.run(dave, "reset", nil), "fresh conversation") // an admin role
	answered(t, h.ask(h.bob, "three"))
	waitContent(t, h.run(h.alice, "voice", map[string]any{"name": "Puck"}), "**Puck**") // Manage Server
	answered(t, h.ask(h.bob, "four"))
	if got := histories(); got["three"] != 0 || got["four"] != 0 {
		t.Fatalf("history lengths %v, want three:0 four:0 (reset by an admin role, then /voice by a manager)", got)
	}
	if setup := string(h.lv.LastSetup()); !strings.Contains(setup, `"Puck"`) {
		t.Fatalf("setup after /voice by a manager = %s, want the voice Puck", setup)
	}
}

// TestLeaveNeedsChannelOrMoveMembers: /leave is refused to a member outside
// the bot's voice channel without Move Members (the bot stays), and
// accepted from one with Move Members (the bot leaves).
func TestLeaveNeedsChannelOrMoveMembers(t *testing.T) {
	h, _ := newVoiceHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	movers := h.dc.AddRole(h.guild.ID, "movers", discordtest.DefaultPermissions|discordgo.PermissionVoiceMoveMembers)
	erin := h.dc.AddUser("erin")
	h.dc.AddMember(h.guild.ID, erin, movers.ID)
	h.start()
	botID := h.dc.AppID()
	waitContent(t, h.run(h.alice, "join", nil), "Joined")
	if err := h.dc.WaitVoiceChannel(h.ctx(), h.guild.ID, botID, h.vc.ID); err != nil {
		t.Fatal(err)
	}
	if msg := ephemeral(t, h.run(h.bob, "leave", nil)); !strings.Contains(msg, "Move Members") {
		t.Fatalf("/leave by someone elsewhere = %q", msg)
	}
	if ch := h.dc.VoiceChannel(h.guild.ID, botID); ch != h.vc.ID {
		t.Fatalf("the bot left (%q) on /leave from someone outside its channel", ch)
	}
	waitContent(t, h.run(erin, "leave", nil), "Left the voice channel")
	if err := h.dc.WaitVoiceChannel(h.ctx(), h.guild.ID, botID, ""); err != nil {
		t.Fatalf("the bot stayed after /leave with Move Members: %v", err)
	}
}

// TestReplayedInteractionActsOnce: an INTERACTION_CREATE delivered again
// (same id, as after a gateway resume) is ignored: a replayed /reset does
// not reset the conversation a second time and a replayed /ask is not asked
// again.
func TestReplayedInteractionActsOnce(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	histories := h.histories()
	h.start()
	answered(t, h.ask(h.alice, "one"))
	reset := h.run(h.alice, "reset", nil)
	waitContent(t, reset, "fresh conversation")
	two := h.ask(h.alice, "two")
	answered(t, two)
	for _, ia := range []*discordtest.Interaction{reset, two} {
		if err := ia.Replay(); err != nil {
			t.Fatal(err)
		}
		h.logs.wait(t, `replayed interaction ignored" interaction=`+ia.ID)
	}
	answered(t, h.ask(h.alice, "three"))
	if got := histories(); got["two"] != 0 || got["three"] != 1 {
		t.Fatalf("history lengths %v, want two:0 three:1 (the replayed /reset reset nothing)", got)
	}
	n := 0
	for _, p := range h.lv.Prompts() {
		if p == "two" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("Live was asked %q %d times, want once", "two", n)
	}
}

// TestRefusedAckChangesNothing: the effect follows a successful
// acknowledgement. A /reset replayed to a process that has not seen it (a
// restart) is refused by Discord with 40060, and the conversation is not
// reset.
func TestRefusedAckChangesNothing(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	histories := h.histories()
	h.start()
	answered(t, h.ask(h.alice, "one"))
	reset := h.run(h.alice, "reset", nil)
	waitContent(t, reset, "fresh conversation")
	answered(t, h.ask(h.alice, "two"))
	h.stop()
	h.start() // the same data directory: the conversation resumes by handle
	if err := reset.Replay(); err != nil {
		t.Fatal(err)
	}
	h.logs.wait(t, "40060")
	answered(t, h.ask(h.alice, "three"))
	if got := histories(); got["two"] != 0 || got["three"] != 1 {
		t.Fatalf("history lengths %v, want two:0 three:1 (a /reset Discord refused reset nothing)", got)
	}
}

// TestDeferNotBehindOtherGuilds: an /ask is acknowledged within Discord's
// window while the lock every guild's conversations share is held (by
// another guild's work): the defer waits on no lock, conversation or
// database shared with anything else; the queue is joined after it.
func TestDeferNotBehindOtherGuilds(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.GuildID = "" // global commands, usable in both guilds
	other := h.dc.AddGuild("other guild")
	otherText := h.dc.AddChannel(other.ID, "general", discordtest.ChannelText)
	h.dc.AddMember(other.ID, h.bob)
	h.start()
	answered(t, h.ask(h.alice, "one"))

	release := h.bot.HoldSharedLock()
	var once atomic.Bool
	unblock := func() {
		if once.CompareAndSwap(false, true) {
			release()
		}
	}
	t.Cleanup(unblock) // before the bot stops
	ia, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{GuildID: other.ID, ChannelID: otherText.ID,
		User: h.bob, Command: "ask", Options: map[string]any{"prompt": "elsewhere"}})
	if err != nil {
		t.Fatal(err)
	}
	// Discord drops an interaction not acknowledged within its 3 s window.
	window := 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*window)
	defer cancel()
	cb, err := ia.WaitCallback(ctx)
	if err != nil {
		t.Fatalf("/ask was not acknowledged while the shared lock was held: %v", err)
	}
	if cb.Type != discordtest.CallbackDeferred || cb.Latency > window {
		t.Fatalf("callback type %d after %v, want a defer within %v", cb.Type, cb.Latency, window)
	}
	unblock()
	answered(t, ia)
}
