package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/discordtest/openapi"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/store"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunAgainstEmulators drives `bot run` as configured from the
// environment against the Discord and Live emulators: it answers an /ask,
// logs with slog, and on cancellation (what SIGINT/SIGTERM do in main)
// returns nil without leaving goroutines behind (the store's retention
// loop included). Its data directory holds a livecord-state.json from an
// earlier version: the guild's voice in it is used, the file is kept as a
// backup, and the turn lands in the SQLite database.
func TestRunAgainstEmulators(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	spec, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discordtest.New(discordtest.Options{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	lv, err := livetest.New(livetest.Options{Speed: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer lv.Close()
	g := dc.AddGuild("run")
	text := dc.AddChannel(g.ID, "general", discordtest.ChannelText)
	alice := dc.AddUser("alice")
	dc.AddMember(g.ID, alice)
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, store.StateFile), []byte(`{"voices":{"guild:`+g.ID+`":"Charon"}}`), 0o600); err != nil {
		t.Fatal(err)
	}

	for k, v := range map[string]string{
		"DISCORD_TOKEN": dc.Token(), "DISCORD_API_URL": dc.URL(), "DISCORD_GUILD_ID": g.ID,
		"GEMINI_API_KEY": lv.Key, "GEMINI_BASE_URL": lv.URL(), "LIVECORD_DATA_DIR": dataDir, "DATABASE_URL": "",
		"BOT_VOICE": "false", "LOG_FORMAT": "json", "LOG_LEVEL": "debug", "ADMIN_ADDR": "127.0.0.1:0",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- runBot(ctx, nil, &logs, &logs) }()

	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := dc.WaitCommand(wctx, g.ID, "ask"); err != nil {
		t.Fatalf("no commands registered: %v\n%s", err, logs.String())
	}
	ia, err := dc.Invoke(wctx, discordtest.Invocation{GuildID: g.ID, ChannelID: text.ID, User: alice,
		Command: "ask", Options: map[string]any{"prompt": "hello from run"}})
	if err != nil {
		t.Fatal(err)
	}
	want := livetest.DefaultTranscript("hello from run")
	if _, err := ia.WaitOriginal(wctx, func(m discordtest.Message) bool {
		return strings.Contains(m.Content, want) && len(m.Attachments) == 1
	}); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	// The admin listener serves health and the bot's metrics.
	addr := ""
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "admin listening" {
			addr = rec.Addr
		}
	}
	if addr == "" {
		t.Fatalf("no admin address logged:\n%s", logs.String())
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, `"name":"discord","ok":true`) ||
		!strings.Contains(body, `"name":"live","ok":true`) || !strings.Contains(body, `"name":"store","ok":true`) {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `livecord_turns_total{outcome="ok"} 1`) ||
		!strings.Contains(body, `livecord_tokens_total{direction="response",modality="audio",model="gemini-3.8-live"}`) {
		t.Errorf("/metrics: %d, no ok turn or its tokens in:\n%s", code, body)
	}
	if setup := string(lv.LastSetup()); !strings.Contains(setup, `"Charon"`) {
		t.Errorf("the imported voice Charon is not in the Live setup:\n%s", setup)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop after cancellation")
	}
	out := logs.String()
	if backups, _ := filepath.Glob(filepath.Join(dataDir, store.StateFile+".imported-*")); len(backups) != 1 {
		t.Errorf("state file backups %q, want one", backups)
	}
	st, err := store.Open(context.Background(), store.Config{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := st.RecentHistory(context.Background(), "guild:"+g.ID, 1<<20)
	st.Close()
	if err != nil || len(hist) != 1 || hist[0].Prompt != "hello from run" || hist[0].UserName != "alice" {
		t.Errorf("history in %s: %+v, %v", store.DBFile, hist, err)
	}
	for _, want := range []string{`"msg":"ask answered"`, `"msg":"bot stopped"`, `"msg":"imported the old state file"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, dc.Token()) || strings.Contains(out, lv.Key) {
		t.Errorf("a secret reached the logs:\n%s", out)
	}
	// Configured as in production (DISCORD_API_URL), the bot speaks API v10
	// and Discord's description holds for every exchange.
	if err := dc.WaitChecked(wctx); err != nil {
		t.Fatal(err)
	}
	if rep := dc.Spec(); len(rep.Violations) != 0 || len(rep.Prefixes) != 1 || rep.Prefixes["/api/v10/"] == 0 || rep.Gateway["10"] != 1 {
		t.Errorf("against Discord's OpenAPI description: %s; prefixes %v, gateway %v; %v", rep, rep.Prefixes, rep.Gateway, rep.Violations)
	}
}
