package bot_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
)

// registered decodes the guild's registered commands by name.
func registered(t *testing.T, h *harness) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, c := range h.dc.Commands(h.guild.ID) {
		var def map[string]any
		if err := json.Unmarshal(c.Raw, &def); err != nil {
			t.Fatal(err)
		}
		out[c.Name] = def
	}
	return out
}

func ints(v any) []int {
	var out []int
	list, _ := v.([]any)
	for _, x := range list {
		f, _ := x.(float64)
		out = append(out, int(f))
	}
	return out
}

// TestCommandDefinitions: the seven commands with their contexts (guild and
// bot DM, or guild only), guild install, and /ask's max_length from the
// configuration; a changed definition or commands deleted on Discord's side
// are registered again at the next start, unchanged ones are not.
func TestCommandDefinitions(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.MaxPromptLength = 700
	h.start()

	defs := registered(t, h)
	var names []string
	for n := range defs {
		names = append(names, n)
	}
	slices.Sort(names)
	if got := strings.Join(names, " "); got != "ask forget help join leave persona reset talk usage voice" {
		t.Fatalf("registered commands: %s", got)
	}
	for name, def := range defs {
		want := []int{0, 1} // guild, bot DM
		if name == "join" || name == "leave" || name == "usage" || name == "forget" || name == "persona" || name == "talk" {
			want = []int{0}
		}
		if got := ints(def["contexts"]); !slices.Equal(got, want) {
			t.Errorf("/%s contexts %v, want %v", name, got, want)
		}
		if got := ints(def["integration_types"]); !slices.Equal(got, []int{0}) {
			t.Errorf("/%s integration_types %v, want [0] (guild install)", name, got)
		}
	}
	maxLen := func() float64 {
		opts, _ := registered(t, h)["ask"]["options"].([]any)
		if len(opts) != 2 {
			t.Fatalf("/ask options: %v", opts)
		}
		if img, _ := opts[1].(map[string]any); img["name"] != "image" || img["type"] != float64(11) || img["required"] == true {
			t.Fatalf("/ask image option: %v", img)
		}
		o, _ := opts[0].(map[string]any)
		if o["name"] != "prompt" || o["required"] != true {
			t.Fatalf("/ask option: %v", o)
		}
		f, _ := o["max_length"].(float64)
		return f
	}
	if got := maxLen(); got != 700 {
		t.Fatalf("/ask prompt max_length %v, want 700", got)
	}
	if n := h.dc.Overwrites(); n != 1 {
		t.Fatalf("%d overwrites after the first start, want 1", n)
	}

	h.stop()
	h.cfg.MaxPromptLength = 1500
	h.start()
	if n := h.dc.Overwrites(); n != 2 {
		t.Fatalf("%d overwrites after a changed definition, want 2", n)
	}
	if got := maxLen(); got != 1500 {
		t.Fatalf("/ask prompt max_length %v after the change, want 1500", got)
	}

	// Someone deletes a command in Discord (or another deployment overwrote
	// them): the stored hash alone must not stop re-registration.
	h.stop()
	for _, c := range h.dc.Commands(h.guild.ID) {
		if c.Name != "voice" {
			continue
		}
		req, err := http.NewRequest(http.MethodDelete, h.dc.URL()+"/api/v10/applications/"+h.dc.AppID()+
			"/guilds/"+h.guild.ID+"/commands/"+c.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bot "+h.dc.Token())
		resp, err := h.dc.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE command: %s", resp.Status)
		}
	}
	if _, ok := registered(t, h)["voice"]; ok {
		t.Fatal("the emulator still lists /voice")
	}
	h.start()
	if n := h.dc.Overwrites(); n != 3 {
		t.Fatalf("%d overwrites after /voice was deleted, want 3", n)
	}
	if _, ok := registered(t, h)["voice"]; !ok {
		t.Fatal("/voice was not registered again")
	}
}

func TestHelp(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.start()
	msg := ephemeral(t, h.run(h.alice, "help", nil))
	for _, want := range []string{"/ask", "/reset", "/voice", "/join", "/leave", "reply.wav"} {
		if !strings.Contains(msg, want) {
			t.Errorf("/help does not mention %s:\n%s", want, msg)
		}
	}
}

// TestVoiceStartsNewSession: /voice takes effect at once: the next /ask
// opens a new Live session with that voice, without the earlier context.
func TestVoiceStartsNewSession(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	histories := h.histories()
	h.start()
	answered(t, h.ask(h.alice, "one"))
	answered(t, h.ask(h.alice, "two"))
	waitContent(t, h.run(h.alice, "voice", map[string]any{"name": "Puck"}), "**Puck**")
	answered(t, h.ask(h.alice, "three"))
	history := histories()
	if history["two"] != 1 || history["three"] != 0 {
		t.Fatalf("history lengths seen by Live: %v; want two:1 three:0", history)
	}
	if n := len(h.lv.Conns()); n != 2 {
		t.Fatalf("%d Live connections, want 2 (a new session after /voice)", n)
	}
	if setup := string(h.lv.LastSetup()); !strings.Contains(setup, `"Puck"`) {
		t.Fatalf("Live setup after /voice does not use Puck:\n%s", setup)
	}
}

// TestDMConversationsPerUser: in DMs each user has a conversation of their
// own: one user's questions are not context for another's.
func TestDMConversationsPerUser(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.GuildID = ""
	histories := h.histories()
	h.start()
	dm := func(u discordtest.User, prompt string) {
		ia, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{User: u, Command: "ask",
			Options: map[string]any{"prompt": prompt}})
		if err != nil {
			t.Fatal(err)
		}
		answered(t, ia)
	}
	dm(h.alice, "alice one")
	dm(h.bob, "bob one")
	dm(h.alice, "alice two")
	history := histories()
	if history["alice one"] != 0 || history["bob one"] != 0 || history["alice two"] != 1 {
		t.Fatalf("history lengths seen by Live: %v; want alice one:0 bob one:0 alice two:1", history)
	}
	if n := len(h.lv.Conns()); n != 2 {
		t.Fatalf("%d Live connections, want 2 (one per DM user)", n)
	}
}

// TestImmediateRepliesNeverPing: answers sent in the interaction callback
// itself (type 4: refusals, a bad voice name echoed) and the answers that
// edit a deferral once the effect is done (a full queue echoing the prompt,
// /reset, /voice) carry an empty allowed_mentions too.
func TestImmediateRepliesNeverPing(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.QueueCap = 1
	release := h.hold("first")
	h.start()
	first := h.ask(h.alice, "first")
	waitContent(t, first, "Thinking…")
	waitContent(t, h.ask(h.bob, "second"), "#1") // the queue is full from here
	pinger := "@everyone <@" + h.carol.ID + "> please"
	for _, ia := range []*discordtest.Interaction{
		h.run(h.alice, "voice", map[string]any{"name": pinger}), // not a voice: echoes the name
		h.run(h.bob, "reset", nil),                              // not a manager
	} {
		cb, err := ia.WaitCallback(h.ctx())
		if err != nil {
			t.Fatal(err)
		}
		if cb.Type != discordtest.CallbackMessage {
			t.Fatalf("callback type %d, want an immediate message (4)", cb.Type)
		}
		if p := cb.Message.Pings(); len(p) != 0 || cb.Message.AllowedMentions == nil {
			t.Errorf("%q would ping %v (allowed_mentions %s)", cb.Message.Content, p, cb.Message.AllowedMentions)
		}
	}
	for ia, want := range map[*discordtest.Interaction]string{
		h.ask(h.alice, pinger):                                  "Too many questions",
		h.run(h.alice, "reset", nil):                            "fresh conversation",
		h.run(h.alice, "voice", map[string]any{"name": "Kore"}): "**Kore**",
	} {
		m := waitContent(t, ia, want)
		if p := m.Pings(); len(p) != 0 || m.AllowedMentions == nil {
			t.Errorf("%q would ping %v (allowed_mentions %s)", m.Content, p, m.AllowedMentions)
		}
	}
	release()
	answered(t, first)
}
