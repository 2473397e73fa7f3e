package bot_test

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
)

// TestRESTMatchesDiscordDescription runs the bot's flows one after another
// and counts, per flow, the REST exchanges the emulator checked against
// Discord's OpenAPI description. NewServer fails every test on any
// difference; this one also shows that each flow was checked at all, that
// every request used /api/v10 and every gateway connection v=10.
func TestRESTMatchesDiscordDescription(t *testing.T) {
	// Alice sits in the voice channel; global commands serve the guild and DMs.
	h, _ := newVoiceHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.GuildID = ""
	before := map[string]int{}
	var lines []string
	flow := func(name string, run func()) {
		t.Helper()
		run()
		if err := h.dc.WaitChecked(h.ctx()); err != nil {
			t.Fatal(err)
		}
		rep := h.dc.Spec()
		delta := map[string]int{}
		n := 0
		for op, c := range rep.Checked {
			if d := c - before[op]; d > 0 {
				delta[op] = d
				n += d
			}
		}
		before = rep.Checked
		if n == 0 {
			t.Errorf("%s: no REST exchange checked", name)
		}
		var ops []string
		for _, op := range slices.Sorted(maps.Keys(delta)) {
			ops = append(ops, op+"="+strconv.Itoa(delta[op]))
		}
		lines = append(lines, name+": "+strings.Join(ops, " "))
	}
	callback := func(ia *discordtest.Interaction) {
		t.Helper()
		if _, err := ia.WaitCallback(h.ctx()); err != nil {
			t.Fatal(err)
		}
	}
	flow("startup", h.start)
	flow("/help", func() { callback(h.run(h.alice, "help", nil)) })
	flow("/voice autocomplete", func() {
		ia, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{GuildID: h.guild.ID, ChannelID: h.text.ID,
			User: h.alice, Command: "voice", Options: map[string]any{"name": "pu"}, Focused: "name"})
		if err != nil {
			t.Fatal(err)
		}
		callback(ia)
	})
	flow("/voice", func() { callback(h.run(h.alice, "voice", map[string]any{"name": "Puck"})) })
	flow("/join", func() {
		callback(h.run(h.alice, "join", nil))
		if err := h.dc.WaitVoiceChannel(h.ctx(), h.guild.ID, h.dc.AppID(), h.vc.ID); err != nil {
			t.Fatalf("the bot did not join: %v", err)
		}
	})
	flow("/leave", func() {
		callback(h.run(h.alice, "leave", nil))
		if err := h.dc.WaitVoiceChannel(h.ctx(), h.guild.ID, h.dc.AppID(), ""); err != nil {
			t.Fatalf("the bot did not leave: %v", err)
		}
	})
	flow("/ask in a guild (spoken in voice), long reply with follow-ups", func() {
		short, _ := livetest.Speak("ok")
		h.lv.Script(livetest.Reply{Transcript: strings.Repeat("The quick brown fox jumps over the lazy dog. ", 100), PCM: short})
		ia := h.ask(h.alice, "talk a lot")
		answered(t, ia)
		if _, err := ia.WaitFollowups(h.ctx(), 2); err != nil {
			t.Fatal(err)
		}
	})
	flow("/ask in a DM", func() {
		ia, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{User: h.bob, Command: "ask",
			Options: map[string]any{"prompt": "hello from a DM"}})
		if err != nil {
			t.Fatal(err)
		}
		answered(t, ia)
	})
	flow("/reset", func() { callback(h.run(h.alice, "reset", nil)) })
	flow("restart with a rejected Gemini key, /ask", func() {
		h.stop()
		h.cfg.Live.APIKey = "not-the-key"
		h.start()
		ia := h.ask(h.carol, "anyone there?")
		if _, err := ia.WaitOriginal(h.ctx(), func(m discordtest.Message) bool {
			return m.Flags&discordtest.FlagLoading == 0 && m.Content != "" && !strings.Contains(m.Content, "Thinking…")
		}); err != nil {
			t.Fatal(err)
		}
	})
	rep := h.dc.Spec()
	t.Logf("REST exchanges checked against Discord's OpenAPI description, by flow:\n%s\ntotal: %s",
		strings.Join(lines, "\n"), rep)
	if len(rep.Violations) != 0 {
		t.Errorf("%d differences from the description (listed when the emulator closes)", len(rep.Violations))
	}
	for prefix := range rep.Prefixes {
		if prefix != "/api/v10/" {
			t.Errorf("requests under %q: %d; the bot must use /api/v10/", prefix, rep.Prefixes[prefix])
		}
	}
	if rep.Gateway["10"] != 2 || len(rep.Gateway) != 1 {
		t.Errorf("gateway connections by version %v, want two (start and restart), all v=10", rep.Gateway)
	}
}
