package discordtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"go.uber.org/goleak"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/internal/tasks"
)

func TestMain(m *testing.M) {
	// Gateway connections ask for v10, as the bot's do; set before any
	// test runs, so no session reads it concurrently.
	discordgo.APIVersion = "10"
	goleak.VerifyTestMain(m)
}

// world is an emulator with a guild, a text channel and a member, and a
// discordgo session connected to it that answers interactions with answer.
type world struct {
	srv   *discordtest.Server
	dg    *discordgo.Session
	guild discordtest.Guild
	text  discordtest.Channel
	alice discordtest.User
}

// setup, if given, runs before discordgo connects (members added later never
// reach discordgo's state: the emulator sends no member events).
func newWorld(t *testing.T, o discordtest.Options, answer func(s *discordgo.Session, ia *discordgo.InteractionCreate), setup ...func(*world)) *world {
	t.Helper()
	w := &world{srv: discordtest.NewServer(t, o)}
	w.guild = w.srv.AddGuild("g")
	w.text = w.srv.AddChannel(w.guild.ID, "general", discordtest.ChannelText)
	w.alice = w.srv.AddUser("alice")
	w.srv.AddMember(w.guild.ID, w.alice)
	for _, f := range setup {
		f(w)
	}
	dg, err := discordgo.New("Bot " + w.srv.Token())
	if err != nil {
		t.Fatal(err)
	}
	dg.Client = v10Client(w.srv)
	dg.Identify.Intents = discordgo.IntentsGuilds | discordgo.IntentsGuildVoiceStates
	var handlers tasks.Group // discordgo runs each handler on its own goroutine
	if answer != nil {
		dg.AddHandler(func(s *discordgo.Session, ia *discordgo.InteractionCreate) {
			if !handlers.Enter() {
				return
			}
			defer handlers.Leave()
			answer(s, ia)
		})
	}
	// Tests read discordgo's state: wait until it holds the guild (discordgo
	// updates its state before it calls handlers).
	guildSeen := make(chan struct{})
	var seenOnce sync.Once
	dg.AddHandler(func(_ *discordgo.Session, g *discordgo.GuildCreate) {
		if g.ID == w.guild.ID {
			seenOnce.Do(func() { close(guildSeen) })
		}
	})
	if err := dg.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dg.Close()
		handlers.Close()
		dg.Client.CloseIdleConnections()
	})
	w.dg = dg
	select {
	case <-guildSeen:
	case <-time.After(10 * time.Second):
		t.Fatal("discordgo never received GUILD_CREATE")
	}
	_, err = dg.ApplicationCommandBulkOverwrite(w.srv.AppID(), w.guild.ID, []*discordgo.ApplicationCommand{
		{Name: "ping", Description: "ping", Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionString, Name: "text", Description: "t", MaxLength: 5}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) invoke(t *testing.T, opts map[string]any) *discordtest.Interaction {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ia, err := w.srv.Invoke(ctx, discordtest.Invocation{GuildID: w.guild.ID, ChannelID: w.text.ID, User: w.alice,
		Command: "ping", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return ia
}

// apiErr extracts Discord's HTTP status and JSON code from a discordgo error.
func apiErr(t *testing.T, err error) (int, int) {
	t.Helper()
	var re *discordgo.RESTError
	if err == nil || !asREST(err, &re) {
		t.Fatalf("want a REST error, got %v", err)
	}
	code := 0
	if re.Message != nil {
		code = re.Message.Code
	}
	return re.Response.StatusCode, code
}

func asREST(err error, re **discordgo.RESTError) bool {
	r, ok := err.(*discordgo.RESTError)
	if ok {
		*re = r
	}
	return ok
}

func TestInteractionRules(t *testing.T) {
	errs := make(chan error, 8)
	w := newWorld(t, discordtest.Options{}, func(s *discordgo.Session, ia *discordgo.InteractionCreate) {
		resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource,
			Data: &discordgo.InteractionResponseData{Content: "first"}}
		errs <- s.InteractionRespond(ia.Interaction, resp)
		errs <- s.InteractionRespond(ia.Interaction, resp) // already acknowledged
		long := strings.Repeat("x", 2001)
		_, err := s.InteractionResponseEdit(ia.Interaction, &discordgo.WebhookEdit{Content: &long})
		errs <- err
		_, err = s.InteractionResponseEdit(ia.Interaction, &discordgo.WebhookEdit{
			Files: []*discordgo.File{{Name: "big.bin", Reader: bytes.NewReader(make([]byte, 2048))}}})
		errs <- err
	})
	// The 2001-character edit is invalid by the description too.
	w.srv.ExpectSpecViolation("update_original_webhook_message", "request", "/content")
	ia, err := w.srv.Invoke(context.Background(), discordtest.Invocation{GuildID: w.guild.ID, ChannelID: w.text.ID,
		User: w.alice, Command: "ping", AttachmentSizeLimit: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("first response: %v", err)
	}
	if st, code := apiErr(t, <-errs); st != 400 || code != 40060 {
		t.Errorf("second response: %d/%d, want 400/40060", st, code)
	}
	if st, code := apiErr(t, <-errs); st != 400 || code != 50035 {
		t.Errorf("2001 characters: %d/%d, want 400/50035", st, code)
	}
	if st, code := apiErr(t, <-errs); st != 413 || code != 40005 {
		t.Errorf("attachment over the limit: %d/%d, want 413/40005", st, code)
	}
	m, _ := ia.Original()
	if m.Content != "first" || len(ia.History()) != 1 {
		t.Errorf("original = %+v after rejected edits", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := w.srv.Invoke(ctx, discordtest.Invocation{GuildID: w.guild.ID, ChannelID: w.text.ID, User: w.alice,
		Command: "ping", Options: map[string]any{"text": "too long"}}); err == nil {
		t.Error("an option over max_length was dispatched")
	}
	if _, err := w.srv.Invoke(ctx, discordtest.Invocation{GuildID: w.guild.ID, ChannelID: w.text.ID, User: w.alice,
		Command: "nope"}); err == nil {
		t.Error("an unregistered command was dispatched")
	}
}

func TestCallbackWindow(t *testing.T) {
	errs := make(chan error, 1)
	w := newWorld(t, discordtest.Options{CallbackWindow: time.Nanosecond}, func(s *discordgo.Session, ia *discordgo.InteractionCreate) {
		errs <- s.InteractionRespond(ia.Interaction, &discordgo.InteractionResponse{
			Type: discordgo.InteractionResponseDeferredChannelMessageWithSource})
	})
	ia := w.invoke(t, nil)
	if st, code := apiErr(t, <-errs); st != 404 || code != 10062 {
		t.Fatalf("late callback: %d/%d, want 404/10062", st, code)
	}
	if _, ok := ia.Original(); ok {
		t.Fatal("a late callback created a response")
	}
}

// TestRateLimit: the webhook bucket answers 429 with Discord's headers and
// body, and discordgo, honouring them, still gets every edit through.
func TestRateLimit(t *testing.T) {
	done := make(chan error, 1)
	w := newWorld(t, discordtest.Options{WebhookLimit: 2, WebhookWindow: 300 * time.Millisecond},
		func(s *discordgo.Session, ia *discordgo.InteractionCreate) {
			err := s.InteractionRespond(ia.Interaction, &discordgo.InteractionResponse{
				Type: discordgo.InteractionResponseDeferredChannelMessageWithSource})
			for i := 0; err == nil && i < 5; i++ {
				c := strings.Repeat("!", i+1)
				_, err = s.InteractionResponseEdit(ia.Interaction, &discordgo.WebhookEdit{Content: &c})
			}
			done <- err
		})
	ia := w.invoke(t, nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m, _ := ia.Original(); m.Content != "!!!!!" {
		t.Fatalf("final content %q", m.Content)
	}

	// Raw requests see the 429 itself.
	url := w.srv.URL() + "/api/v10/webhooks/" + w.srv.AppID() + "/" + ia.Token + "/messages/@original"
	var last *http.Response
	for range 3 {
		req, _ := http.NewRequest(http.MethodPatch, url, strings.NewReader(`{"content":"raw"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = resp
		if resp.StatusCode == 429 {
			var rl struct {
				RetryAfter float64 `json:"retry_after"`
				Global     bool    `json:"global"`
			}
			if err := json.Unmarshal(body, &rl); err != nil || rl.RetryAfter <= 0 || rl.Global {
				t.Fatalf("429 body %s", body)
			}
			break
		}
	}
	http.DefaultClient.CloseIdleConnections()
	if last.StatusCode != 429 || last.Header.Get("X-RateLimit-Remaining") != "0" ||
		last.Header.Get("X-RateLimit-Bucket") == "" || last.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d headers %v", last.StatusCode, last.Header)
	}
	if w.srv.RateLimited() < 1 {
		t.Fatal("no 429 recorded")
	}
}

func TestAuthentication(t *testing.T) {
	srv := discordtest.NewServer(t, discordtest.Options{})
	dg, _ := discordgo.New("Bot wrong-token")
	dg.Client = v10Client(srv)
	defer dg.Client.CloseIdleConnections()
	if err := dg.Open(); err == nil {
		dg.Close()
		t.Fatal("gateway accepted a wrong token")
	}
	_, err := dg.ApplicationCommands(srv.AppID(), "")
	if st, _ := apiErr(t, err); st != 401 {
		t.Fatalf("REST with a wrong token: %d", st)
	}
}

func TestGuildStateOverREST(t *testing.T) {
	w := newWorld(t, discordtest.Options{}, nil)
	vc := w.srv.AddChannel(w.guild.ID, "Voice", discordtest.ChannelVoice)
	role := w.srv.AddRole(w.guild.ID, "mods", discordtest.PermAdministrator)
	w.srv.AddMember(w.guild.ID, w.alice, role.ID)
	w.srv.SetVoiceState(w.guild.ID, w.alice.ID, vc.ID)
	chans, err := w.dg.GuildChannels(w.guild.ID)
	if err != nil || len(chans) != 2 || chans[1].Type != discordgo.ChannelTypeGuildVoice {
		t.Fatalf("channels %v, %v", chans, err)
	}
	m, err := w.dg.GuildMember(w.guild.ID, w.alice.ID)
	if err != nil || !slices.Equal(m.Roles, []string{role.ID}) {
		t.Fatalf("member %+v, %v", m, err)
	}
	roles, err := w.dg.GuildRoles(w.guild.ID)
	if err != nil || len(roles) != 2 || roles[1].Permissions != discordtest.PermAdministrator {
		t.Fatalf("roles %+v, %v", roles, err)
	}
	if _, err := w.dg.GuildMember(w.guild.ID, "42"); err == nil {
		t.Fatal("unknown member found")
	} else if st, code := apiErr(t, err); st != 404 || code != 10007 {
		t.Fatalf("unknown member: %d/%d", st, code)
	}
	cmds, err := w.dg.ApplicationCommands(w.srv.AppID(), w.guild.ID)
	if err != nil || len(cmds) != 1 || cmds[0].Name != "ping" || cmds[0].ID == "" || cmds[0].Options[0].MaxLength != 5 {
		t.Fatalf("commands %+v, %v", cmds, err)
	}
}

func TestPings(t *testing.T) {
	tests := []struct {
		content string
		allowed string
		want    []string
	}{
		{"hi @everyone <@1> <@&2>", "", []string{"@everyone", "user:1", "role:2"}},
		{"hi @everyone <@1> <@&2>", `{"parse":[]}`, nil},
		{"hi @here <@!1>", `{"parse":["users"]}`, []string{"user:1"}},
		{"<@1> <@3> <@&2>", `{"parse":[],"users":["3"],"roles":["2"]}`, []string{"user:3", "role:2"}},
		{"plain text", "", nil},
	}
	for _, tt := range tests {
		m := discordtest.Message{Content: tt.content}
		if tt.allowed != "" {
			m.AllowedMentions = json.RawMessage(tt.allowed)
		}
		if got := m.Pings(); !slices.Equal(got, tt.want) {
			t.Errorf("%q with %s: pings %v, want %v", tt.content, tt.allowed, got, tt.want)
		}
	}
}

func TestTokenLifetime(t *testing.T) {
	errs := make(chan error, 2)
	w := newWorld(t, discordtest.Options{TokenLifetime: time.Nanosecond}, func(s *discordgo.Session, ia *discordgo.InteractionCreate) {
		errs <- s.InteractionRespond(ia.Interaction, &discordgo.InteractionResponse{
			Type: discordgo.InteractionResponseDeferredChannelMessageWithSource})
		c := "too late"
		_, err := s.InteractionResponseEdit(ia.Interaction, &discordgo.WebhookEdit{Content: &c})
		errs <- err
	})
	w.invoke(t, nil)
	if err := <-errs; err != nil {
		t.Fatalf("callback: %v", err)
	}
	if st, code := apiErr(t, <-errs); st != 401 || code != 50027 {
		t.Fatalf("edit after the token expired: %d/%d, want 401/50027", st, code)
	}
}

// TestChannelOverwrites: overwrites reach discordgo in GUILD_CREATE and
// CHANNEL_UPDATE, discordgo's own permission arithmetic agrees with the
// emulator's, and an interaction carries the channel-level member
// permissions and app_permissions.
func TestChannelOverwrites(t *testing.T) {
	const view, connect, speak = discordtest.PermViewChannel, discordtest.PermConnect, discordtest.PermSpeak
	var vc discordtest.Channel
	var mods discordtest.Role
	var bob discordtest.User
	got := make(chan *discordgo.InteractionCreate, 1)
	w := newWorld(t, discordtest.Options{}, func(s *discordgo.Session, ia *discordgo.InteractionCreate) {
		got <- ia
		_ = s.InteractionRespond(ia.Interaction, &discordgo.InteractionResponse{
			Type: discordgo.InteractionResponseChannelMessageWithSource, Data: &discordgo.InteractionResponseData{Content: "ok"}})
	}, func(w *world) {
		vc = w.srv.AddChannel(w.guild.ID, "Voice", discordtest.ChannelVoice)
		mods = w.srv.AddRole(w.guild.ID, "mods", discordtest.DefaultPermissions)
		bob = w.srv.AddUser("bob")
		w.srv.AddMember(w.guild.ID, bob, mods.ID)
		// In GUILD_CREATE: nobody may speak in the voice channel.
		w.srv.SetOverwrites(vc.ID, discordtest.Overwrite{ID: w.guild.ID, Type: discordtest.OverwriteRole, Deny: speak})
	})
	bot := w.srv.AppID()
	everyone := discordtest.DefaultPermissions
	check := func(stage string, want map[string]int64) {
		t.Helper()
		for _, u := range []string{w.alice.ID, bob.ID, bot} {
			if p := w.srv.ChannelPermissions(vc.ID, u); p != want[u] {
				t.Errorf("%s: emulator gives %s %#x, want %#x", stage, u, p, want[u])
			}
			p, err := w.dg.State.UserChannelPermissions(u, vc.ID)
			if err != nil || p&everyone != want[u] {
				t.Errorf("%s: discordgo computes %#x for %s (%v), want %#x", stage, p&everyone, u, err, want[u])
			}
		}
	}
	check("GUILD_CREATE", map[string]int64{w.alice.ID: everyone &^ speak, bob.ID: everyone &^ speak, bot: everyone &^ speak})
	// discordgo updates its state before it calls handlers.
	updated := make(chan struct{}, 1)
	w.dg.AddHandler(func(_ *discordgo.Session, e *discordgo.ChannelUpdate) {
		if e.ID == vc.ID {
			select {
			case updated <- struct{}{}:
			default:
			}
		}
	})

	// CHANNEL_UPDATE: @everyone may not even connect; mods may connect (not
	// speak); the bot, by a member overwrite, may do both; Alice's own
	// overwrite hides the channel from her.
	w.srv.SetOverwrites(vc.ID,
		discordtest.Overwrite{ID: w.guild.ID, Type: discordtest.OverwriteRole, Deny: connect | speak},
		discordtest.Overwrite{ID: mods.ID, Type: discordtest.OverwriteRole, Allow: connect},
		discordtest.Overwrite{ID: bot, Type: discordtest.OverwriteMember, Allow: connect | speak},
		discordtest.Overwrite{ID: w.alice.ID, Type: discordtest.OverwriteMember, Deny: view},
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-updated:
	case <-ctx.Done():
		t.Fatal("discordgo never saw the CHANNEL_UPDATE")
	}
	want := map[string]int64{
		w.alice.ID: everyone &^ (connect | speak | view),
		bob.ID:     everyone &^ speak,
		bot:        everyone,
	}
	check("CHANNEL_UPDATE", want)

	ia, err := w.srv.Invoke(ctx, discordtest.Invocation{GuildID: w.guild.ID, ChannelID: vc.ID, User: bob, Command: "ping"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ia.WaitCallback(ctx); err != nil {
		t.Fatal(err)
	}
	in := <-got
	if in.Member.Permissions != want[bob.ID] || in.AppPermissions != want[bot] {
		t.Fatalf("interaction in the voice channel: member.permissions %#x, app_permissions %#x; want %#x, %#x",
			in.Member.Permissions, in.AppPermissions, want[bob.ID], want[bot])
	}
}
