package bot_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"go.uber.org/goleak"

	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
)

func TestMain(m *testing.M) {
	if os.Getenv(mcpEnv) == "stdio" {
		serveMCPStdio()
	}
	goleak.VerifyTestMain(m)
}

// harness is the bot, the Discord emulator and the Live emulator in one
// process, with a guild holding a text and a voice channel and two members.
type harness struct {
	t     testing.TB
	dc    *discordtest.Server
	lv    *livetest.Server
	cfg   bot.Config
	guild discordtest.Guild
	text  discordtest.Channel
	vc    discordtest.Channel
	alice discordtest.User
	bob   discordtest.User
	carol discordtest.User
	mods  discordtest.Role
	bot   *bot.Bot // the running bot, once started

	logs   *logSink
	cancel context.CancelFunc
	done   chan error
}

// logSink collects the bot's logs so tests can wait for a record and check
// that no secret was logged.
type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// wait waits for a log line containing s.
func (l *logSink) wait(t testing.TB, s string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		l.mu.Lock()
		ok, ch := strings.Contains(l.buf.String(), s), l.changed
		l.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("no log line with %q", s)
		}
	}
}

func newHarness(t testing.TB, dopts discordtest.Options, lopts livetest.Options) *harness {
	t.Helper()
	// Discord's 3 s callback window is real time: on a loaded machine (CI
	// beside other jobs, the race detector) a test about something else
	// must not fail by it. The tests about the window itself
	// (TestDeferNotBehindOtherGuilds, TestAckBurst) judge each callback's
	// latency against 3 s themselves.
	if dopts.CallbackWindow == 0 {
		dopts.CallbackWindow = time.Minute
	}
	h := &harness{t: t, dc: discordtest.NewServer(t, dopts), lv: livetest.NewServer(t, lopts),
		logs: &logSink{changed: make(chan struct{})}}
	t.Cleanup(func() {
		out := h.logs.String()
		for _, secret := range []string{h.dc.Token(), h.lv.Key} {
			if strings.Contains(out, secret) {
				t.Errorf("a secret reached the logs:\n%s", out)
			}
		}
		if t.Failed() {
			t.Logf("bot logs:\n%s", out)
		}
	})
	h.guild = h.dc.AddGuild("test guild")
	h.text = h.dc.AddChannel(h.guild.ID, "general", discordtest.ChannelText)
	h.vc = h.dc.AddChannel(h.guild.ID, "Lounge", discordtest.ChannelVoice)
	// Alice manages the server (she may /reset and /voice); Bob and Carol
	// are plain members.
	h.mods = h.dc.AddRole(h.guild.ID, "moderators", discordtest.DefaultPermissions|discordgo.PermissionManageGuild)
	for i, u := range []*discordtest.User{&h.alice, &h.bob, &h.carol} {
		*u = h.dc.AddUser([]string{"alice", "bob", "carol"}[i])
		if i == 0 {
			h.dc.AddMember(h.guild.ID, *u, h.mods.ID)
		} else {
			h.dc.AddMember(h.guild.ID, *u)
		}
	}
	h.cfg = bot.Config{
		Token:      h.dc.Token(),
		GuildID:    h.guild.ID,
		DataDir:    t.TempDir(),
		HTTPClient: h.dc.HTTPClient(),
		// Live's own stall timeout (30 s) stays: a fixed 5 s fired on a
		// loaded machine in tests about something else.
		Live:     live.Config{APIKey: h.lv.Key, BaseURL: h.lv.URL(), OutputTranscription: true},
		Cooldown: -1,
		Logger:   slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return h
}

// start runs the bot until the test ends (or stop) and waits for its
// commands.
// hold makes the Live emulator withhold its reply to prompt until the
// returned release is called (or the test ends); release may be called twice.
func (h *harness) hold(prompt string) (release func()) {
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	h.t.Cleanup(release)
	h.lv.Respond(func(r livetest.Request) livetest.Reply {
		if r.Prompt == prompt {
			<-ch
		}
		return livetest.Reply{}
	})
	return release
}

func (h *harness) start() {
	h.t.Helper()
	b, err := bot.New(h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.bot = b
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- b.Run(ctx) }()
	h.t.Cleanup(h.stop)
	select {
	case <-b.Ready():
	case err := <-h.done:
		h.cancel = nil
		h.t.Fatalf("Run ended early: %v", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("bot not ready after 10 s")
	}
}

// stop shuts the bot down and checks Run's result.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		h.t.Error("Run did not return after cancel")
	}
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

// run has user run a command in the guild's text channel.
func (h *harness) run(user discordtest.User, command string, opts map[string]any) *discordtest.Interaction {
	h.t.Helper()
	ia, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{GuildID: h.guild.ID, ChannelID: h.text.ID,
		User: user, Command: command, Options: opts})
	if err != nil {
		h.t.Fatal(err)
	}
	return ia
}

func (h *harness) ask(user discordtest.User, prompt string) *discordtest.Interaction {
	h.t.Helper()
	return h.run(user, "ask", map[string]any{"prompt": prompt})
}

// answered waits for the final message of an /ask (one that is no longer
// streaming or waiting).
func answered(t testing.TB, ia *discordtest.Interaction) discordtest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := ia.WaitOriginal(ctx, isFinal)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func isFinal(m discordtest.Message) bool {
	c := m.Content
	return m.Flags&discordtest.FlagLoading == 0 && c != "" && !strings.Contains(c, "Thinking…") &&
		!strings.HasSuffix(c, " ▍") && !strings.Contains(c, "Waiting in line")
}

// ephemeral waits for a type 4 ephemeral callback and returns its text.
func ephemeral(t *testing.T, ia *discordtest.Interaction) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cb, err := ia.WaitCallback(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Type != discordtest.CallbackMessage || cb.Message.Flags&discordtest.FlagEphemeral == 0 {
		t.Fatalf("callback = type %d flags %d %q, want an ephemeral message", cb.Type, cb.Message.Flags, cb.Message.Content)
	}
	return cb.Message.Content
}

// histories has Live answer every prompt with the default reply and records
// how many earlier turns it had as context for each; the returned func reads
// the record so far.
func (h *harness) histories() func() map[string]int {
	var mu sync.Mutex
	seen := map[string]int{}
	h.lv.Respond(func(r livetest.Request) livetest.Reply {
		mu.Lock()
		seen[r.Prompt] = len(r.History)
		mu.Unlock()
		return livetest.Reply{}
	})
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(seen)
	}
}

func pcmBytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}
