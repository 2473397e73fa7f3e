package bot_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/store"
)

// openStore opens a store the test owns (closed after the bot stops: the
// harness registers its stop later, so it runs first).
func openStore(t *testing.T, cfg store.Config) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// manager adds a member whose role has Manage Server.
func (h *harness) manager() discordtest.User {
	role := h.dc.AddRole(h.guild.ID, "managers", discordtest.DefaultPermissions|discordgo.PermissionManageGuild)
	u := h.dc.AddUser("dana")
	h.dc.AddMember(h.guild.ID, u, role.ID)
	return u
}

func (h *harness) key() string { return "guild:" + h.guild.ID }

func recent(t *testing.T, st *store.Store, key string) []store.HistoryTurn {
	t.Helper()
	hist, err := st.RecentHistory(context.Background(), key, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return hist
}

// TestUpgradeKeepsSettingsAndHandles: a data directory holding only the
// JSON state file of earlier versions starts with every voice and handle
// in it: the guild's conversation resumes (same context, the stored
// voice), and the file is kept renamed as a backup.
func TestUpgradeKeepsSettingsAndHandles(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	histories := h.histories()
	h.start()
	answered(t, h.ask(h.alice, "remember me"))
	h.stop()
	issued := h.lv.HandlesIssued()
	if len(issued) == 0 {
		t.Fatal("the emulator issued no handle")
	}
	handle := issued[len(issued)-1]

	dir := t.TempDir()
	state := fmt.Sprintf(`{"voices":{%q:"Kore","dm:42":"Puck"},"handles":{%q:%q,"dm:42":"dm-handle"},"commands":{"global@1":"abc"}}`,
		h.key(), h.key(), handle)
	if err := os.WriteFile(filepath.Join(dir, store.StateFile), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	h.cfg.DataDir = dir
	h.start()
	m := answered(t, h.ask(h.bob, "after the upgrade"))
	if strings.Contains(m.Content, "⚠️") {
		t.Fatalf("answer after the upgrade:\n%s", m.Content)
	}
	if seen := h.lv.HandlesSeen(); len(seen) == 0 || seen[len(seen)-1] != handle {
		t.Fatalf("handles presented %q, want the imported %q last", seen, handle)
	}
	if n := histories()["after the upgrade"]; n != 1 {
		t.Errorf("Live saw %d earlier turns, want 1 (the resumed context)", n)
	}
	if setup := string(h.lv.LastSetup()); !strings.Contains(setup, `"Kore"`) {
		t.Errorf("setup after the upgrade does not use the imported voice Kore:\n%s", setup)
	}
	h.stop()
	if _, err := os.Stat(filepath.Join(dir, store.StateFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the state file is still in place: %v", err)
	}
	if backups, _ := filepath.Glob(filepath.Join(dir, store.StateFile+".imported-*")); len(backups) != 1 {
		t.Errorf("backups %q, want one", backups)
	}
	st := openStore(t, store.Config{DataDir: dir})
	ctx := h.ctx()
	if s, err := st.Settings(ctx, "dm:42"); err != nil || s.Voice != "Puck" {
		t.Errorf("dm:42 voice %q, %v; want Puck", s.Voice, err)
	}
	if hd, err := st.Handle(ctx, "dm:42"); err != nil || hd != "dm-handle" {
		t.Errorf("dm:42 handle %q, %v; want dm-handle", hd, err)
	}
	if hs, err := st.CommandsHash(ctx, "global@1"); err != nil || hs != "abc" {
		t.Errorf("commands hash %q, %v; want abc", hs, err)
	}
}

// TestBudgetRefusesPlainly: over the daily budget, the asker is told which
// budget is spent and when it resets, with the prompt echoed; Live never
// sees the prompt. Another user's budget is their own.
func TestBudgetRefusesPlainly(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.Store = openStore(t, store.Config{DataDir: h.cfg.DataDir, UserDaily: store.Budget{Tokens: 1}})
	h.start()
	answered(t, h.ask(h.alice, "first question"))
	before := time.Now().UTC()
	m := answered(t, h.ask(h.alice, "second question"))
	after := time.Now().UTC()
	if !strings.Contains(m.Content, "You have used today's Gemini budget") || !strings.Contains(m.Content, "> second question") {
		t.Fatalf("over-budget answer:\n%s", m.Content)
	}
	reset := func(now time.Time) string {
		y, mo, d := now.Date()
		return fmt.Sprintf("<t:%d:R>", time.Date(y, mo, d+1, 0, 0, 0, 0, time.UTC).Unix())
	}
	if !strings.Contains(m.Content, reset(before)) && !strings.Contains(m.Content, reset(after)) {
		t.Errorf("the answer does not say it resets at the next UTC midnight (%s):\n%s", reset(after), m.Content)
	}
	if len(m.Attachments) != 0 {
		t.Errorf("an over-budget answer has %d attachments", len(m.Attachments))
	}
	if p := h.lv.Prompts(); !reflect.DeepEqual(p, []string{"first question"}) {
		t.Fatalf("Live received %q, want only the first question", p)
	}
	if m := answered(t, h.ask(h.bob, "bob asks")); strings.Contains(m.Content, "⚠️") {
		t.Fatalf("bob was refused by alice's budget:\n%s", m.Content)
	}
}

// TestUsageForgetAndPermissions: /usage and /forget are registered for
// Manage Server, refused at run time to a member without it (a guild may
// grant the command to everyone), and for a manager: /usage reports the
// turn's tokens by modality (from Live's usageMetadata), /forget erases the
// history and the next turn starts without context.
func TestUsageForgetAndPermissions(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	histories := h.histories()
	st := openStore(t, store.Config{DataDir: h.cfg.DataDir})
	h.cfg.Store = st
	dana := h.manager()
	h.start()
	defs := registered(t, h)
	for _, name := range []string{"usage", "forget"} {
		if p, _ := defs[name]["default_member_permissions"].(string); p != fmt.Sprint(discordgo.PermissionManageGuild) {
			t.Errorf("/%s default_member_permissions = %#v, want %q (Manage Server, as a string)", name, defs[name]["default_member_permissions"], fmt.Sprint(discordgo.PermissionManageGuild))
		}
	}
	answered(t, h.ask(h.alice, "count me"))

	for _, name := range []string{"usage", "forget"} {
		if msg := ephemeral(t, h.run(h.bob, name, nil)); !strings.Contains(msg, "Manage Server") {
			t.Errorf("/%s by a member without Manage Server: %q", name, msg)
		}
	}
	if n := len(recent(t, st, h.key())); n != 1 {
		t.Fatalf("%d remembered turns after a refused /forget, want 1", n)
	}

	r, err := st.UsageReport(h.ctx(), h.guild.ID, time.Now(), 5)
	if err != nil {
		t.Fatal(err)
	}
	tok := r.Today.Tokens
	if r.Today.Turns != 1 || tok.PromptText == 0 || tok.ResponseAudio == 0 {
		t.Fatalf("recorded usage %+v: want one turn with text prompt and audio response tokens", r.Today)
	}
	ia := h.run(dana, "usage", nil)
	cb, err := ia.WaitCallback(h.ctx())
	if err != nil || cb.Message.Flags&discordtest.FlagEphemeral == 0 {
		t.Fatalf("/usage callback %+v, %v: want ephemeral", cb, err)
	}
	m := waitContent(t, ia, "Gemini usage")
	for _, want := range []string{
		fmt.Sprintf("%s tokens in 1 turns", commas(tok.Total())),
		fmt.Sprintf("%s audio", commas(tok.ResponseAudio)),
		"1. alice",
	} {
		if !strings.Contains(m.Content, want) {
			t.Errorf("/usage does not show %q:\n%s", want, m.Content)
		}
	}

	ia = h.run(dana, "forget", nil)
	waitContent(t, ia, "Erased this server's conversation history (1 remembered turns")
	if n := len(recent(t, st, h.key())); n != 0 {
		t.Fatalf("%d remembered turns after /forget", n)
	}
	conns := len(h.lv.Conns())
	answered(t, h.ask(h.alice, "after forget"))
	if n := histories()["after forget"]; n != 0 {
		t.Errorf("Live saw %d earlier turns after /forget, want 0", n)
	}
	if n := len(h.lv.Conns()); n != conns+1 {
		t.Errorf("%d Live connections after /forget, want a new one (%d)", n, conns+1)
	}
	if r, _ := st.UsageReport(h.ctx(), h.guild.ID, time.Now(), 0); r.Today.Turns != 2 {
		t.Errorf("usage turns after /forget = %d, want 2 (usage stays)", r.Today.Turns)
	}
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestResetClearsHistory: /reset forgets the remembered turns too, not
// only the handle.
func TestResetClearsHistory(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	st := openStore(t, store.Config{DataDir: h.cfg.DataDir})
	h.cfg.Store = st
	h.start()
	answered(t, h.ask(h.alice, "one"))
	if n := len(recent(t, st, h.key())); n != 1 {
		t.Fatalf("%d remembered turns, want 1", n)
	}
	waitContent(t, h.run(h.alice, "reset", nil), "fresh conversation")
	if n := len(recent(t, st, h.key())); n != 0 {
		t.Fatalf("%d remembered turns after /reset, want 0", n)
	}
	if hd, err := st.Handle(h.ctx(), h.key()); err != nil || hd != "" {
		t.Fatalf("handle after /reset %q, %v", hd, err)
	}
}

// TestExpiredHandleContinuesFromHistory: when the handle has expired, the
// new session is seeded with the newest remembered turns that fit in the
// history token budget, in order, who asked named; the model answers in
// that context.
func TestExpiredHandleContinuesFromHistory(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	histories := h.histories()
	h.start()
	answered(t, h.ask(h.alice, "one"))
	answered(t, h.ask(h.bob, "two"))
	answered(t, h.ask(h.alice, "three"))
	h.stop()
	h.lv.ExpireHandles()

	st0, err := store.Open(h.ctx(), store.Config{DataDir: h.cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	all := recent(t, st0, h.key())
	st0.Close()
	if len(all) != 3 || all[1].UserName != "bob" || all[2].Reply == "" {
		t.Fatalf("remembered %+v", all)
	}
	// A budget that fits the two newest turns, not the three.
	budget := store.TurnTokens(all[1]) + store.TurnTokens(all[2])
	h.cfg.Store = openStore(t, store.Config{DataDir: h.cfg.DataDir, HistoryTokens: budget})
	h.start()
	m := answered(t, h.ask(h.carol, "four"))
	if strings.Contains(m.Content, "⚠️") {
		t.Fatalf("answer:\n%s", m.Content)
	}
	seeded := h.lv.Seeded()
	if len(seeded) != 1 {
		t.Fatalf("%d seeded sessions, want 1", len(seeded))
	}
	want := []livetest.SeedTurn{
		{Role: "user", Text: "bob asked: two"}, {Role: "model", Text: all[1].Reply},
		{Role: "user", Text: "alice asked: three"}, {Role: "model", Text: all[2].Reply},
	}
	if !reflect.DeepEqual(seeded[0], want) {
		t.Fatalf("seeded %q\nwant %q", seeded[0], want)
	}
	if n := histories()["four"]; n != 2 {
		t.Errorf("Live answered with %d earlier turns in context, want the 2 seeded", n)
	}
}

// TestStoreFailureIsTold: when the database stops answering, /voice,
// /reset and /ask say so plainly (no claim of success, the prompt echoed),
// and Live is not called.
func TestStoreFailureIsTold(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	st := openStore(t, store.Config{DataDir: h.cfg.DataDir})
	h.cfg.Store = st
	h.start()
	st.Close()
	waitContent(t, h.run(h.alice, "voice", map[string]any{"name": "Puck"}), "the voice is unchanged")
	waitContent(t, h.run(h.alice, "reset", nil), "so Gemini still remembers it")
	m := answered(t, h.ask(h.alice, "are you there?"))
	if !strings.Contains(m.Content, "database isn't answering") || !strings.Contains(m.Content, "> are you there?") {
		t.Fatalf("answer with the database down:\n%s", m.Content)
	}
	if p := h.lv.Prompts(); len(p) != 0 {
		t.Fatalf("Live received %q", p)
	}
}

// pgSchemaURL makes a PostgreSQL schema of the test's own on the server
// scripts/postgres-test.sh started (LIVECORD_TEST_DATABASE_URL) and returns
// a URL whose search_path is it; without the server the test skips, unless
// LIVECORD_REQUIRE_POSTGRES=1.
func pgSchemaURL(t *testing.T) string {
	admin := os.Getenv("LIVECORD_TEST_DATABASE_URL")
	if admin == "" {
		if os.Getenv("LIVECORD_REQUIRE_POSTGRES") == "1" {
			t.Fatal("LIVECORD_REQUIRE_POSTGRES=1 but LIVECORD_TEST_DATABASE_URL is empty")
		}
		t.Skip("no PostgreSQL: set LIVECORD_TEST_DATABASE_URL (scripts/postgres-test.sh)")
	}
	schema := fmt.Sprintf("bot_%d", time.Now().UnixNano())
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestShardsShareStateOnPostgres: two bot processes (shards 0 and 1 of 2)
// on one PostgreSQL share a user's daily budget (spent on one shard,
// refused on the other) and a guild's settings.
func TestShardsShareStateOnPostgres(t *testing.T) {
	dbURL := pgSchemaURL(t)
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.GuildID = ""
	shardOf := func(guildID string) int {
		id, _ := strconv.ParseUint(guildID, 10, 64)
		return int((id >> 22) % 2)
	}
	if shardOf(h.guild.ID) == shardOf(h.dc.AddUser("spare").ID) { // the emulator's IDs alternate shards
		h.dc.AddUser("spare 2")
	}
	other := h.dc.AddGuild("second guild")
	otherText := h.dc.AddChannel(other.ID, "general", discordtest.ChannelText)
	h.dc.AddMember(other.ID, h.alice)
	if shardOf(h.guild.ID) == shardOf(other.ID) {
		t.Fatalf("both guilds on shard %d; the emulator's IDs should alternate", shardOf(other.ID))
	}
	var stores [2]*store.Store
	for shard := range 2 {
		stores[shard] = openStore(t, store.Config{DatabaseURL: dbURL, UserDaily: store.Budget{Tokens: 1}})
		cfg := h.cfg
		cfg.ShardID, cfg.ShardCount = shard, 2
		cfg.Store = stores[shard]
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
	if m := answered(t, h.ask(h.alice, "first guild")); strings.Contains(m.Content, "⚠️") {
		t.Fatalf("first answer:\n%s", m.Content)
	}
	ia, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{GuildID: other.ID, ChannelID: otherText.ID, User: h.alice,
		Command: "ask", Options: map[string]any{"prompt": "second guild"}})
	if err != nil {
		t.Fatal(err)
	}
	if m := answered(t, ia); !strings.Contains(m.Content, "You have used today's Gemini budget") {
		t.Fatalf("the other shard did not see alice's spent budget:\n%s", m.Content)
	}
	if p := h.lv.Prompts(); !reflect.DeepEqual(p, []string{"first guild"}) {
		t.Fatalf("Live received %q", p)
	}
	waitContent(t, h.run(h.alice, "voice", map[string]any{"name": "Puck"}), "**Puck**")
	other0 := 1 - shardOf(h.guild.ID)
	if s, err := stores[other0].Settings(h.ctx(), h.key()); err != nil || s.Voice != "Puck" {
		t.Fatalf("the other shard reads voice %q, %v; want Puck", s.Voice, err)
	}
}
