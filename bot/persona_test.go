package bot_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
)

const permManageGuild = 1 << 5

func (h *harness) persona(user discordtest.User, sub string, opts map[string]any) string {
	h.t.Helper()
	ia, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{GuildID: h.guild.ID, ChannelID: h.text.ID,
		User: user, Command: "persona", Subcommand: sub, Options: opts})
	if err != nil {
		h.t.Fatal(err)
	}
	// A refusal answers at once; a change or a read is acknowledged first
	// (ephemeral, nothing touched before the ack), then the answer edited in.
	t := h.t.(*testing.T)
	cb, err := ia.WaitCallback(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if cb.Message.Flags&discordtest.FlagEphemeral == 0 {
		t.Fatalf("/persona callback = type %d flags %d, want ephemeral", cb.Type, cb.Message.Flags)
	}
	if cb.Type == discordtest.CallbackMessage {
		return cb.Message.Content
	}
	m, err := ia.WaitOriginal(h.ctx(), func(m discordtest.Message) bool { return m.Content != "" })
	if err != nil {
		t.Fatal(err)
	}
	return m.Content
}

// systemInstruction is the text of the last setup's systemInstruction.
func systemInstruction(t *testing.T, lv *livetest.Server) string {
	t.Helper()
	var s struct {
		SystemInstruction *struct{ Parts []struct{ Text string } }
	}
	if err := json.Unmarshal(lv.LastSetup(), &s); err != nil {
		t.Fatal(err)
	}
	if s.SystemInstruction == nil || len(s.SystemInstruction.Parts) == 0 {
		return ""
	}
	return s.SystemInstruction.Parts[0].Text
}

// TestPersona: /persona is hidden from members without Manage Server
// (default_member_permissions "32") and refuses them when run anyway,
// echoing their instruction; a moderator's persona replaces the running
// session at the next question (keeping the conversation), survives a
// restart, and clearing it restores GEMINI_SYSTEM_INSTRUCTION.
func TestPersona(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.Live.SystemInstruction = "You are the default."
	mods := h.dc.AddRole(h.guild.ID, "mods", permManageGuild)
	dave := h.dc.AddUser("dave")
	h.dc.AddMember(h.guild.ID, dave, mods.ID)
	history := h.histories()
	h.start()

	def := registered(t, h)["persona"]
	if def["default_member_permissions"] != "32" {
		t.Fatalf("/persona default_member_permissions = %#v, want \"32\"", def["default_member_permissions"])
	}

	answered(t, h.ask(h.alice, "first"))
	if got := systemInstruction(t, h.lv); got != "You are the default." {
		t.Fatalf("system instruction %q", got)
	}
	msg := h.persona(h.carol, "set", map[string]any{"instruction": "Talk like a pirate."})
	if !strings.Contains(msg, "Manage Server") || !strings.Contains(msg, "> Talk like a pirate.") {
		t.Fatalf("refusal: %q", msg)
	}
	if msg := h.persona(dave, "set", map[string]any{"instruction": "Talk like a pirate."}); !strings.Contains(msg, "Persona saved") {
		t.Fatalf("set: %q", msg)
	}
	answered(t, h.ask(h.alice, "second"))
	if got := systemInstruction(t, h.lv); got != "Talk like a pirate." {
		t.Fatalf("system instruction after /persona set: %q", got)
	}
	if n := history()["second"]; n != 1 {
		t.Fatalf("the new session had %d earlier turns, want 1 (resumed)", n)
	}

	h.stop()
	h.start()
	if msg := h.persona(h.alice, "show", nil); !strings.Contains(msg, "> Talk like a pirate.") {
		t.Fatalf("show after restart: %q", msg)
	}
	if msg := h.persona(h.bob, "clear", nil); !strings.Contains(msg, "Manage Server") {
		t.Fatalf("clear without permission: %q", msg)
	}
	if msg := h.persona(dave, "clear", nil); !strings.Contains(msg, "cleared") {
		t.Fatalf("clear: %q", msg)
	}
	answered(t, h.ask(h.alice, "third"))
	if got := systemInstruction(t, h.lv); got != "You are the default." {
		t.Fatalf("system instruction after /persona clear: %q", got)
	}
}
