package store

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStoreSettingsHandlesCommands(t *testing.T) {
	bothEngines(t, func(t *testing.T, tg target) {
		s := tg.open(t)
		if s.Engine() != tg.engine {
			t.Fatalf("engine = %s, want %s", s.Engine(), tg.engine)
		}
		if st, err := s.Settings(ctx, "guild:1"); err != nil || st.Voice != "" || st.GuildBudget != nil || !st.UpdatedAt.IsZero() {
			t.Fatalf("settings of an unknown guild = %+v, %v; want zero", st, err)
		}
		saved, err := s.UpdateSettings(ctx, "guild:1", func(st *Settings) {
			st.Voice, st.Language, st.SystemInstruction = "Kore", "en-US", "Be brief."
			st.UserBudget = &Budget{Tokens: 5000, CostUSD: 0.25}
		})
		if err != nil {
			t.Fatal(err)
		}
		if saved.Voice != "Kore" || saved.UpdatedAt.IsZero() {
			t.Errorf("UpdateSettings returned %+v", saved)
		}
		if _, err := s.UpdateSettings(ctx, "guild:1", func(st *Settings) { st.Voice = "Puck" }); err != nil {
			t.Fatal(err)
		}
		if err := s.SetHandle(ctx, "guild:1", "h-1"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetHandle(ctx, "dm:9", "h-9"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetHandle(ctx, "dm:9", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCommandsHash(ctx, "global", "abc"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCommandsHash(ctx, "global", "def"); err != nil {
			t.Fatal(err)
		}

		// A second instance (a restart, or another shard) sees all of it.
		s2 := tg.open(t)
		st, err := s2.Settings(ctx, "guild:1")
		if err != nil {
			t.Fatal(err)
		}
		if st.Voice != "Puck" || st.Language != "en-US" || st.SystemInstruction != "Be brief." {
			t.Errorf("settings after reopen = %+v", st)
		}
		if st.GuildBudget != nil || st.UserBudget == nil || *st.UserBudget != (Budget{Tokens: 5000, CostUSD: 0.25}) {
			t.Errorf("budgets after reopen: guild %v user %v", st.GuildBudget, st.UserBudget)
		}
		if h, err := s2.Handle(ctx, "guild:1"); err != nil || h != "h-1" {
			t.Errorf("handle = %q, %v", h, err)
		}
		if h, err := s2.Handle(ctx, "dm:9"); err != nil || h != "" {
			t.Errorf("cleared handle = %q, %v", h, err)
		}
		if h, err := s2.CommandsHash(ctx, "global"); err != nil || h != "def" {
			t.Errorf("commands hash = %q, %v", h, err)
		}
	})
}

// Read-modify-write from many goroutines (two store instances: two
// shards) loses no update.
func TestStoreUpdateSettingsConcurrent(t *testing.T) {
	bothEngines(t, func(t *testing.T, tg target) {
		// 24 writers queue for one lock: on a loaded box the last waits for
		// all the others, so the bounds are wide (they only catch a hang).
		wide := func(c *Config) { c.BusyTimeout, c.OpTimeout = 2*time.Minute, 2*time.Minute }
		a, b := tg.open(t, wide), tg.open(t, wide)
		const n = 24
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.UpdateSettings(ctx, "guild:1", func(st *Settings) { st.SystemInstruction += "x" })
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		st, err := a.Settings(ctx, "guild:1")
		if err != nil {
			t.Fatal(err)
		}
		if len(st.SystemInstruction) != n {
			t.Errorf("after %d concurrent appends the field has %d: updates were lost", n, len(st.SystemInstruction))
		}
	})
}

func TestStoreMigrations(t *testing.T) {
	list, err := migrations(SQLite)
	if err != nil || len(list) == 0 {
		t.Fatalf("migrations: %v, %d", err, len(list))
	}
	latest := list[len(list)-1].version
	bothEngines(t, func(t *testing.T, tg target) {
		s := tg.open(t)
		if v, err := s.SchemaVersion(ctx); err != nil || v != latest {
			t.Fatalf("schema version = %d, %v; want %d", v, err, latest)
		}
		// Reopening applies nothing twice.
		s2 := tg.open(t)
		var rows int
		if err := s2.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&rows); err != nil || rows != len(list) {
			t.Errorf("schema_migrations rows = %d, %v; want %d", rows, err, len(list))
		}
		// A database migrated by a newer binary is refused, not scribbled on.
		if _, err := s2.db.ExecContext(ctx, s2.q("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"), latest+1, "future.sql", 0); err != nil {
			t.Fatal(err)
		}
		if s3, err := Open(ctx, tg.cfg); err == nil {
			s3.Close()
			t.Error("opened a database with a newer migration than this binary knows")
		} else if !strings.Contains(err.Error(), "newer") {
			t.Errorf("error does not say why: %v", err)
		}
	})
}

func writeState(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

const oldState = `{
  "voices": {"guild:1": "Kore", "dm:7": "Puck"},
  "handles": {"guild:1": "handle-1", "dm:7": "handle-7"},
  "commands": {"global": "hash-g", "guild:1": "hash-1"}
}
`

// Upgrading a data directory keeps every setting and handle; the old file
// stays as a backup; a second start (or the same file put back) imports
// nothing again.
func TestStoreImportsJSONState(t *testing.T) {
	bothEngines(t, func(t *testing.T, tg target) {
		dir := t.TempDir()
		if tg.engine == SQLite {
			dir = tg.cfg.DataDir
		}
		withDir := func(c *Config) { c.DataDir = dir }
		writeState(t, dir, oldState)
		s := tg.open(t, withDir)
		for key, want := range map[string]string{"guild:1": "Kore", "dm:7": "Puck"} {
			if st, err := s.Settings(ctx, key); err != nil || st.Voice != want {
				t.Errorf("voice of %s = %q, %v; want %s", key, st.Voice, err, want)
			}
		}
		for key, want := range map[string]string{"guild:1": "handle-1", "dm:7": "handle-7"} {
			if h, err := s.Handle(ctx, key); err != nil || h != want {
				t.Errorf("handle of %s = %q, %v; want %s", key, h, err, want)
			}
		}
		for scope, want := range map[string]string{"global": "hash-g", "guild:1": "hash-1"} {
			if h, err := s.CommandsHash(ctx, scope); err != nil || h != want {
				t.Errorf("commands hash of %s = %q, %v; want %s", scope, h, err, want)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, StateFile)); !os.IsNotExist(err) {
			t.Errorf("the old file is still in place (stat: %v)", err)
		}
		backups, _ := filepath.Glob(filepath.Join(dir, StateFile+".imported-*"))
		if len(backups) != 1 {
			t.Fatalf("backups = %q, want one", backups)
		}
		if b, _ := os.ReadFile(backups[0]); string(b) != oldState {
			t.Errorf("backup holds %q", b)
		}
		// The conversation moves on; then the same file reappears (a crash
		// between the commit and the rename): it must not bring back the
		// cleared handle.
		if err := s.SetHandle(ctx, "guild:1", ""); err != nil {
			t.Fatal(err)
		}
		writeState(t, dir, oldState)
		s2 := tg.open(t, withDir)
		if h, _ := s2.Handle(ctx, "guild:1"); h != "" {
			t.Errorf("re-import brought back handle %q", h)
		}
		if _, err := os.Stat(filepath.Join(dir, StateFile)); !os.IsNotExist(err) {
			t.Errorf("the reappeared file was not moved to a backup (stat: %v)", err)
		}
		// A corrupt old file is kept aside and the start goes on.
		writeState(t, dir, `{"voices": {"guild:1": 7}`)
		s3 := tg.open(t, withDir)
		if st, _ := s3.Settings(ctx, "guild:1"); st.Voice != "Kore" {
			t.Errorf("voice after a corrupt file = %q", st.Voice)
		}
		if aside, _ := filepath.Glob(filepath.Join(dir, StateFile+".corrupt-*")); len(aside) != 1 {
			t.Errorf("corrupt files kept = %q, want one", aside)
		}
	})
}

func TestStoreParseStateRejects(t *testing.T) {
	for _, in := range []string{``, `null`, `[]`, `{"voices":{"a":1}}`, `{"voices":{"":"x"}}`, `{} {}`, `{"handles":"x"}`} {
		if _, err := parseState([]byte(in)); err == nil {
			t.Errorf("parseState(%q) accepted it", in)
		}
	}
	st, err := parseState([]byte(oldState))
	if err != nil || st.Voices["dm:7"] != "Puck" || st.Commands["global"] != "hash-g" {
		t.Errorf("parseState(oldState) = %+v, %v", st, err)
	}
}

func turn(key, guild, user string, at time.Time, tokens int64) Turn {
	return Turn{Key: key, GuildID: guild, UserID: user, UserName: "name-" + user,
		Prompt: fmt.Sprintf("question of %s at %s", user, at.Format(time.RFC3339)), Reply: "an answer",
		At: at, Model: "gemini-3.8-live", Modality: "text",
		Tokens: Tokens{PromptText: tokens / 2, ResponseAudio: tokens - tokens/2}}
}

func TestStoreHistory(t *testing.T) {
	bothEngines(t, func(t *testing.T, tg target) {
		s := tg.open(t)
		for i := range 10 {
			tr := turn("guild:1", "1", "u1", day0.Add(time.Duration(i)*time.Minute), 100)
			tr.Prompt, tr.Reply = fmt.Sprintf("prompt %d %s", i, strings.Repeat("p", 100)), fmt.Sprintf("reply %d %s", i, strings.Repeat("r", 300))
			tr.Handle = fmt.Sprintf("h%d", i)
			if err := s.RecordTurn(ctx, tr); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordTurn(ctx, turn("guild:2", "2", "u2", day0, 100)); err != nil {
			t.Fatal(err)
		}
		if h, _ := s.Handle(ctx, "guild:1"); h != "h9" {
			t.Errorf("handle after the turns = %q, want h9", h)
		}
		all, err := s.RecentHistory(ctx, "guild:1", 1<<30)
		if err != nil || len(all) != 10 {
			t.Fatalf("all history = %d turns, %v", len(all), err)
		}
		per := TurnTokens(all[0])
		got, err := s.RecentHistory(ctx, "guild:1", 3*per+per/2)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || !strings.HasPrefix(got[0].Prompt, "prompt 7 ") || !strings.HasPrefix(got[2].Prompt, "prompt 9 ") {
			t.Fatalf("3.5 turns of budget gave %d turns starting %.10q", len(got), got)
		}
		if got[2].UserID != "u1" || got[2].UserName != "name-u1" || !got[2].At.Equal(day0.Add(9*time.Minute)) {
			t.Errorf("turn fields = %+v", got[2])
		}
		if got, _ := s.RecentHistory(ctx, "guild:1", per-1); len(got) != 0 {
			t.Errorf("a budget below one turn returned %d turns", len(got))
		}

		if n, err := s.PruneHistory(ctx, day0.Add(5*time.Minute)); err != nil || n != 6 {
			t.Errorf("prune removed %d, %v; want 6 (5 of guild 1, 1 of guild 2)", n, err)
		}
		if got, _ := s.RecentHistory(ctx, "guild:1", 1<<30); len(got) != 5 {
			t.Errorf("after pruning %d turns remain, want 5", len(got))
		}
		if err := s.RecordTurn(ctx, turn("guild:2", "2", "u2", day0.Add(time.Hour), 100)); err != nil {
			t.Fatal(err)
		}
		if n, err := s.EraseGuildHistory(ctx, "1"); err != nil || n != 5 {
			t.Errorf("erase removed %d, %v; want 5", n, err)
		}
		if h, _ := s.Handle(ctx, "guild:1"); h != "" {
			t.Errorf("erasing a guild's history kept its handle %q", h)
		}
		if got, _ := s.RecentHistory(ctx, "guild:2", 1<<30); len(got) != 1 {
			t.Errorf("another guild's history was touched: %d turns", len(got))
		}
		if err := s.SetHandle(ctx, "guild:2", "h"); err != nil {
			t.Fatal(err)
		}
		if err := s.ResetConversation(ctx, "guild:2"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.RecentHistory(ctx, "guild:2", 1<<30); len(got) != 0 {
			t.Errorf("reset kept %d turns", len(got))
		}
		if h, _ := s.Handle(ctx, "guild:2"); h != "" {
			t.Errorf("reset kept the handle %q", h)
		}
		// Usage outlives history: accounting is not erased with the text.
		if r, _ := s.UsageReport(ctx, "1", day0, 0); r.Today.Turns != 10 {
			t.Errorf("usage turns after erasing history = %d, want 10", r.Today.Turns)
		}
	})
}

func TestStoreEstimateTokens(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{{"", 0}, {"abcd", 1}, {"abcde", 2}, {strings.Repeat("word ", 100), 125}, {"日本語のテキスト", 8}} {
		if got := EstimateTokens(c.in); got != c.want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestStoreBudgets(t *testing.T) {
	bothEngines(t, func(t *testing.T, tg target) {
		tz := time.FixedZone("UTC-5", -5*3600)
		s := tg.open(t, func(c *Config) {
			c.Location = tz
			c.GuildDaily = Budget{Tokens: 1000}
			c.UserDaily = Budget{CostUSD: 0.01}
		})
		now := day0 // 10:00 in UTC-5
		dec, err := s.Check(ctx, "1", "u1", now)
		if err != nil || !dec.Allowed {
			t.Fatalf("fresh guild: %+v, %v", dec, err)
		}
		if want := time.Date(2026, 12, 7, 0, 0, 0, 0, tz); !dec.ResetAt.Equal(want) {
			t.Errorf("reset at %v, want %v (midnight in the configured zone)", dec.ResetAt, want)
		}
		// Yesterday's usage (before local midnight) does not count.
		if err := s.RecordTurn(ctx, turn("guild:1", "1", "u1", time.Date(2026, 12, 6, 4, 59, 0, 0, time.UTC), 5000)); err != nil {
			t.Fatal(err)
		}
		if dec, _ := s.Check(ctx, "1", "u1", now); !dec.Allowed {
			t.Errorf("yesterday's usage counted: %+v", dec)
		}
		// u2 uses 900 tokens of the guild's 1000; u1 may still ask.
		if err := s.RecordTurn(ctx, turn("guild:1", "1", "u2", now.Add(-time.Hour), 900)); err != nil {
			t.Fatal(err)
		}
		if dec, _ := s.Check(ctx, "1", "u1", now); !dec.Allowed {
			t.Errorf("under the guild budget: %+v", dec)
		}
		if err := s.RecordTurn(ctx, turn("guild:1", "1", "u1", now.Add(-time.Minute), 100)); err != nil {
			t.Fatal(err)
		}
		dec, _ = s.Check(ctx, "1", "u1", now)
		if dec.Allowed || dec.Scope != "guild" || dec.Measure != "tokens" || dec.Used != 1000 || dec.Limit != 1000 {
			t.Errorf("at the guild budget: %+v", dec)
		}
		// The guild's override lifts its budget; the user's cost budget
		// (0.01 USD) still applies: u2's 900 tokens cost 450*0.75 + 450*12
		// micro-USD = 0.0057375 USD, under it.
		if _, err := s.UpdateSettings(ctx, "guild:1", func(st *Settings) { st.GuildBudget = &Budget{} }); err != nil {
			t.Fatal(err)
		}
		if dec, _ := s.Check(ctx, "1", "u2", now); !dec.Allowed {
			t.Errorf("guild budget lifted, user under cost budget: %+v", dec)
		}
		if err := s.RecordTurn(ctx, turn("dm:u2", "", "u2", now.Add(-time.Minute), 800)); err != nil {
			t.Fatal(err)
		}
		dec, _ = s.Check(ctx, "1", "u2", now)
		wantUsed := float64(450*0.75+450*12+400*0.75+400*12) / 1e6
		if dec.Allowed || dec.Scope != "user" || dec.Measure != "cost" || math.Abs(dec.Used-wantUsed) > 2e-6 || dec.Limit != 0.01 {
			t.Errorf("over the user cost budget (DM use counts too): %+v, want used %v", dec, wantUsed)
		}
		// In a DM only the user's budget applies.
		if dec, _ := s.Check(ctx, "", "u2", now); dec.Allowed || dec.Scope != "user" {
			t.Errorf("DM over the user budget: %+v", dec)
		}
		// The next local day starts fresh.
		if dec, _ := s.Check(ctx, "1", "u2", dec.ResetAt); !dec.Allowed {
			t.Errorf("after the reset: %+v", dec)
		}
	})
}

func TestStoreUsageReport(t *testing.T) {
	bothEngines(t, func(t *testing.T, tg target) {
		s := tg.open(t)
		add := func(user string, at time.Time, tok Tokens) {
			t.Helper()
			tr := turn("guild:1", "1", user, at, 0)
			tr.Tokens = tok
			if err := s.RecordTurn(ctx, tr); err != nil {
				t.Fatal(err)
			}
		}
		add("a", day0, Tokens{PromptText: 100, PromptAudio: 1000, ResponseAudio: 2000, Thoughts: 10})
		add("b", day0.Add(-time.Hour), Tokens{PromptText: 50, ResponseText: 50})
		add("b", day0.AddDate(0, 0, -3), Tokens{PromptText: 5000})                        // this month, not today
		add("c", day0.AddDate(0, -1, 0), Tokens{PromptText: 100000})                      // last month
		if err := s.RecordTurn(ctx, turn("guild:2", "2", "a", day0, 77777)); err != nil { // another guild
			t.Fatal(err)
		}
		r, err := s.UsageReport(ctx, "1", day0, 5)
		if err != nil {
			t.Fatal(err)
		}
		if r.Today.Turns != 2 || r.Today.Tokens.Total() != 3110+100 || r.Month.Turns != 3 || r.Month.Tokens.Total() != 8210 {
			t.Errorf("today %+v month %+v", r.Today, r.Month)
		}
		if r.Today.Tokens.PromptAudio != 1000 || r.Today.Tokens.ResponseAudio != 2000 || r.Today.Tokens.Thoughts != 10 {
			t.Errorf("today by modality: %+v", r.Today.Tokens)
		}
		wantToday := (100*0.75 + 1000*3 + 2000*12 + 10*4.5 + 50*0.75 + 50*4.5) / 1e6
		if math.Abs(r.Today.CostUSD-wantToday) > 2e-6 {
			t.Errorf("today's cost %v, want %v", r.Today.CostUSD, wantToday)
		}
		if len(r.TopUsers) != 2 || r.TopUsers[0].UserID != "b" || r.TopUsers[0].Tokens.Total() != 5100 ||
			r.TopUsers[0].UserName != "name-b" || r.TopUsers[1].UserID != "a" || r.TopUsers[1].Turns != 1 {
			t.Errorf("top users %+v", r.TopUsers)
		}
		if !r.MonthStart.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("month starts %v", r.MonthStart)
		}
	})
}

func TestStoreTokensFromUsage(t *testing.T) {
	// The shape the service sends (a forum report of gemini-3.8-live): the
	// prompt details leave 25 tokens uncovered.
	tok := TokensFromUsage(522, 42, 136,
		[]ModalityCount{{"TEXT", 332}, {"AUDIO", 165}}, []ModalityCount{{"AUDIO", 42}})
	want := Tokens{PromptText: 357, PromptAudio: 165, ResponseAudio: 42, Thoughts: 136}
	if tok != want {
		t.Errorf("TokensFromUsage = %+v, want %+v", tok, want)
	}
	if tok.Total() != 522+42+136 {
		t.Errorf("total %d", tok.Total())
	}
	if got := TokensFromUsage(10, 5, 0, nil, nil); got != (Tokens{PromptText: 10, ResponseText: 5}) {
		t.Errorf("no details: %+v", got)
	}
	if got := TokensFromUsage(0, 0, -1, []ModalityCount{{"IMAGE", 7}, {"AUDIO", -3}}, nil); got != (Tokens{PromptOther: 7}) {
		t.Errorf("image and a negative count: %+v", got)
	}
}

func TestStoreParsePrices(t *testing.T) {
	p, err := ParsePrices("gemini-3.8-live=1/2/3/4; models/my-model = 0.1/0.2/0.3/0.4", DefaultPrices())
	if err != nil {
		t.Fatal(err)
	}
	if p.For("models/gemini-3.8-live") != (Price{1, 2, 3, 4}) || p.For("my-model") != (Price{0.1, 0.2, 0.3, 0.4}) {
		t.Errorf("overrides: %+v %+v", p.For("gemini-3.8-live"), p.For("my-model"))
	}
	if p.For("unknown") != DefaultPrices()["*"] || DefaultPrices().For("gemini-3.8-live") == (Price{1, 2, 3, 4}) {
		t.Error("fallback or base changed")
	}
	if c := p.CostMicros("my-model", Tokens{PromptText: 10, PromptAudio: 10, ResponseText: 10, ResponseAudio: 10}); c != 10 {
		t.Errorf("cost = %d micro-USD, want 10", c)
	}
	for _, bad := range []string{"x", "m=1/2/3", "m=1/2/3/-4", "=1/2/3/4", "m=1/2/x/4", "m=NaN/1/1/1"} {
		if _, err := ParsePrices(bad, nil); err == nil {
			t.Errorf("ParsePrices(%q) accepted it", bad)
		}
	}
}

func TestStoreRejectsOtherURLs(t *testing.T) {
	if _, err := Open(ctx, Config{DatabaseURL: "mysql://x"}); err == nil || !strings.Contains(err.Error(), "postgres://") {
		t.Errorf("a mysql URL: %v", err)
	}
}

func TestStoreInMemory(t *testing.T) {
	s, err := Open(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetHandle(ctx, "guild:1", "h"); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Handle(ctx, "guild:1"); h != "h" {
		t.Errorf("handle %q", h)
	}
}

func TestStoreConfigFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	cfg, err := ConfigFromEnv(env(nil))
	if err != nil || cfg.DatabaseURL != "" || cfg.HistoryRetention != 30*24*time.Hour || cfg.HistoryTokens != 4000 ||
		cfg.Location != nil || cfg.GuildDaily != (Budget{}) || cfg.Prices.For("gemini-3.8-live") != DefaultPrices()["gemini-3.8-live"] {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	cfg, err = ConfigFromEnv(env(map[string]string{"DATABASE_URL": "postgres://u@h/db", "LIVECORD_HISTORY_DAYS": "0",
		"LIVECORD_HISTORY_TOKENS": "800", "LIVECORD_PRICES": "m=1/2/3/4", "LIVECORD_BUDGET_TZ": "Europe/Paris",
		"LIVECORD_GUILD_DAILY_TOKENS": "100000", "LIVECORD_USER_DAILY_COST": "$0.50"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != "postgres://u@h/db" || cfg.HistoryRetention != 0 || cfg.HistoryTokens != 800 || cfg.Prices.For("m") != (Price{1, 2, 3, 4}) ||
		cfg.Location.String() != "Europe/Paris" || cfg.GuildDaily != (Budget{Tokens: 100000}) || cfg.UserDaily != (Budget{CostUSD: 0.5}) {
		t.Errorf("parsed: %+v", cfg)
	}
	for k, v := range map[string]string{"DATABASE_URL": "mysql://x", "LIVECORD_HISTORY_DAYS": "-1", "LIVECORD_HISTORY_TOKENS": "x",
		"LIVECORD_PRICES": "m=1", "LIVECORD_BUDGET_TZ": "Mars/Olympus", "LIVECORD_GUILD_DAILY_COST": "-3", "LIVECORD_USER_DAILY_TOKENS": "1.5"} {
		if _, err := ConfigFromEnv(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v (want an error naming the key)", k, v, err)
		}
	}
}

func TestStorePruneExpired(t *testing.T) {
	bothEngines(t, func(t *testing.T, tg target) {
		s := tg.open(t, func(c *Config) { c.HistoryRetention = 48 * time.Hour })
		for _, age := range []time.Duration{72 * time.Hour, 49 * time.Hour, 47 * time.Hour, time.Minute} {
			if err := s.RecordTurn(ctx, turn("guild:1", "1", "u", day0.Add(-age), 1)); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.PruneExpired(ctx, day0); err != nil || n != 2 {
			t.Errorf("pruned %d, %v; want the 2 turns older than 48 h", n, err)
		}
		keep := tg.open(t, func(c *Config) { c.HistoryRetention = 0 })
		if n, err := keep.PruneExpired(ctx, day0.AddDate(10, 0, 0)); err != nil || n != 0 {
			t.Errorf("retention 0 pruned %d, %v", n, err)
		}
	})
}

// RunRetention prunes at once, and returns when its context ends.
func TestStoreRunRetention(t *testing.T) {
	s := newTarget(t, SQLite).open(t, func(c *Config) { c.HistoryRetention = time.Hour })
	if err := s.RecordTurn(ctx, turn("guild:1", "1", "u", time.Now().Add(-2*time.Hour), 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordTurn(ctx, turn("guild:1", "1", "u", time.Now(), 1)); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.RunRetention(rctx, time.Hour) }()
	// The first round runs before the first tick: wait for its effect.
	deadline, _ := t.Deadline()
	for {
		h, err := s.RecentHistory(ctx, "guild:1", 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) == 1 {
			break
		}
		if !deadline.IsZero() && time.Now().After(deadline.Add(-5*time.Second)) {
			t.Fatalf("the expired turn is still there: %d turns", len(h))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

// A DATABASE_URL's password never reaches an error (errors get logged).
func TestStoreErrorsKeepThePasswordSecret(t *testing.T) {
	_, err := Open(ctx, Config{DatabaseURL: "postgres://livecord:s3cret-pw@127.0.0.1:1/livecord?connect_timeout=5"})
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("the error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), "postgres") {
		t.Errorf("the error does not say which database failed: %v", err)
	}
}

// A call waiting on the database (here: a row another session holds
// locked) fails after OpTimeout instead of hanging the turn.
func TestStoreOpTimeoutBoundsAWait(t *testing.T) {
	tg := newTarget(t, Postgres)
	s := tg.open(t, func(c *Config) { c.OpTimeout = 300 * time.Millisecond })
	if _, err := s.UpdateSettings(ctx, "guild:1", func(st *Settings) { st.Voice = "Kore" }); err != nil {
		t.Fatal(err)
	}
	other := tg.open(t)
	tx, err := other.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT voice FROM settings WHERE conv_key = 'guild:1' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateSettings(ctx, "guild:1", func(st *Settings) { st.Voice = "Puck" })
	if err == nil {
		t.Fatal("the update went through a locked row")
	}
	if !strings.Contains(err.Error(), "guild:1") {
		t.Errorf("the error does not say what failed: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Settings(ctx, "guild:1"); st.Voice != "Kore" {
		t.Errorf("the timed-out update changed the voice to %q", st.Voice)
	}
}

// Shards starting together on a fresh database migrate it once.
func TestStoreConcurrentOpenMigratesOnce(t *testing.T) {
	bothEngines(t, func(t *testing.T, tg target) {
		const n = 4
		stores := make([]*Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stores[i], errs[i] = Open(ctx, tg.cfg)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("open %d: %v", i, err)
			}
			defer stores[i].Close()
		}
		list, _ := migrations(tg.engine)
		var rows int
		if err := stores[0].db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&rows); err != nil || rows != len(list) {
			t.Errorf("schema_migrations rows = %d, %v; want %d", rows, err, len(list))
		}
	})
}
