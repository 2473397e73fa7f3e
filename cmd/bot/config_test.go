package main

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/voice/player"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadBotConfig(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c bot.Config, lo logOptions)
		err   string
	}{
		{name: "defaults", env: map[string]string{"DISCORD_TOKEN": "tok"},
			check: func(t *testing.T, c bot.Config, lo logOptions) {
				if c.Token != "tok" || c.DataDir != "data" || c.Cooldown != bot.DefaultCooldown ||
					c.QueueCap != bot.DefaultQueueCap || c.MaxPromptLength != bot.DefaultMaxPromptLength ||
					lo.Level != slog.LevelInfo || lo.Format != "text" || c.GuildID != "" {
					t.Fatalf("defaults: %+v %+v", c, lo)
				}
			}},
		{name: "env and fallbacks", env: map[string]string{"DISCORD_BOT_TOKEN": "t2", "GUILD_ID": "123",
			"BOT_COOLDOWN": "30s", "BOT_QUEUE_CAP": "9", "DISCORD_ALLOWED_ROLES": "1, 2", "LOG_FORMAT": "json",
			"LOG_LEVEL": "debug", "LIVECORD_DATA_DIR": "/var/lib/livecord"},
			check: func(t *testing.T, c bot.Config, lo logOptions) {
				if c.Token != "t2" || c.GuildID != "123" || c.Cooldown != 30*time.Second || c.QueueCap != 9 ||
					!slices.Equal(c.AllowedRoles, []string{"1", "2"}) || lo.Format != "json" ||
					lo.Level != slog.LevelDebug || c.DataDir != "/var/lib/livecord" {
					t.Fatalf("env: %+v %+v", c, lo)
				}
			}},
		{name: "flags win over env", env: map[string]string{"DISCORD_GUILD_ID": "1", "BOT_QUEUE_CAP": "9"},
			args: []string{"-guild", "2", "-queue-cap", "3", "-allowed-guilds", "7,8"},
			check: func(t *testing.T, c bot.Config, _ logOptions) {
				if c.GuildID != "2" || c.QueueCap != 3 || !slices.Equal(c.AllowedGuilds, []string{"7", "8"}) {
					t.Fatalf("flags: %+v", c)
				}
			}},
		{name: "bad values", env: map[string]string{"BOT_COOLDOWN": "soon", "BOT_MAX_PROMPT_LENGTH": "7000",
			"DISCORD_ALLOWED_GUILDS": "abc", "LOG_LEVEL": "loud", "DISCORD_SHARD_ID": "3", "DISCORD_SHARD_COUNT": "2"},
			err: "BOT_COOLDOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ro, err := loadBotConfig(tt.args, env(tt.env), io.Discard)
			lo := ro.Log
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one mentioning %s", err, tt.err)
				}
				for _, want := range []string{"6000", "abc", "loud", "shard 3 of 2"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not report %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c, lo)
		})
	}
}

func TestRunNeedsCredentials(t *testing.T) {
	t.Setenv("DISCORD_TOKEN", "")
	t.Setenv("DISCORD_BOT_TOKEN", "")
	err := runBot(context.Background(), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DISCORD_TOKEN") {
		t.Fatalf("err = %v", err)
	}
	t.Setenv("DISCORD_TOKEN", "secret-token-value")
	t.Setenv("GEMINI_API_KEY", "")
	t.Setenv("GOOGLE_API_KEY", "")
	err = runBot(context.Background(), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "GEMINI_API_KEY") || strings.Contains(err.Error(), "secret-token-value") {
		t.Fatalf("err = %v", err)
	}
}

func TestVoiceSwitch(t *testing.T) {
	for _, tt := range []struct {
		env  string
		args []string
		want bool
	}{{"", nil, true}, {"false", nil, false}, {"0", []string{"-voice=true"}, true}, {"", []string{"-voice=false"}, false}} {
		_, ro, err := loadBotConfig(tt.args, env(map[string]string{"BOT_VOICE": tt.env}), io.Discard)
		on := ro.Voice
		if err != nil || on != tt.want {
			t.Errorf("BOT_VOICE=%q %v: voice %v (%v), want %v", tt.env, tt.args, on, err, tt.want)
		}
	}
}

// TestEnvExampleDocumentsEveryKey: each variable `bot run` reads, the
// Discord side's and Live's, is in .env.example, under a comment.
func TestEnvExampleDocumentsEveryKey(t *testing.T) {
	var read []string
	getenv := func(k string) string {
		read = append(read, k)
		return ""
	}
	if _, _, err := loadBotConfig(nil, getenv, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	documented := map[string]bool{}
	commented := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "#"):
			commented = true
		case strings.Contains(l, "="):
			documented[strings.TrimSpace(strings.SplitN(l, "=", 2)[0])] = commented
		default:
			commented = false
		}
	}
	for _, k := range read {
		if k == "DISCORD_BOT_TOKEN" || k == "GUILD_ID" || k == "GOOGLE_API_KEY" {
			continue // fallbacks, named in DISCORD_TOKEN's, DISCORD_GUILD_ID's and GEMINI_API_KEY's comments
		}
		if c, ok := documented[k]; !ok || !c {
			t.Errorf("%s is read by `bot run` but not documented in .env.example", k)
		}
	}
}

// TestDotEnv: ./.env fills in what the environment lacks; a variable set in
// the environment (even empty) wins.
func TestDotEnv(t *testing.T) {
	dir := t.TempDir()
	env := "LIVECORD_TEST_FROM_FILE=file\nLIVECORD_TEST_BOTH=file\nLIVECORD_TEST_EMPTY=file\n"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	t.Setenv("LIVECORD_TEST_BOTH", "environment")
	t.Setenv("LIVECORD_TEST_EMPTY", "")
	t.Setenv("LIVECORD_TEST_FROM_FILE", "") // registers the cleanup…
	os.Unsetenv("LIVECORD_TEST_FROM_FILE")  // …then leaves it unset for the file
	loadDotEnv()
	for k, want := range map[string]string{"LIVECORD_TEST_FROM_FILE": "file", "LIVECORD_TEST_BOTH": "environment", "LIVECORD_TEST_EMPTY": ""} {
		if got := os.Getenv(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// TestLoadLiveConfig: the GEMINI_* keys and their defaults, and every bad
// value stops the start with a message naming its key.
func TestLoadLiveConfig(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	c, err := loadLiveConfig(env(map[string]string{"GOOGLE_API_KEY": "google-key"}))
	if err != nil || c.APIKey != "google-key" || !c.OutputTranscription || !c.Compression || c.StallTimeout != 0 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	c, err = loadLiveConfig(env(map[string]string{"GEMINI_API_KEY": "gemini-key", "GOOGLE_API_KEY": "google-key",
		"GEMINI_STALL_TIMEOUT": "12s", "GEMINI_OUTPUT_TRANSCRIPTION": "false", "GEMINI_VOICE": "Kore", "GEMINI_COMPRESSION": "0"}))
	if err != nil || c.APIKey != "gemini-key" || c.StallTimeout != 12*time.Second || c.OutputTranscription || c.Voice != "Kore" || c.Compression {
		t.Errorf("set: %+v, %v", c, err)
	}
	for key, bad := range map[string]string{
		"GEMINI_STALL_TIMEOUT":        "abc",
		"GEMINI_COMPRESSION":          "maybe",
		"GEMINI_OUTPUT_TRANSCRIPTION": "sometimes",
		"GEMINI_API_VERSION":          "v2",
		"GEMINI_BASE_URL":             "ftp://example.com",
		"GEMINI_MODEL":                "a/../b",
	} {
		_, err := loadLiveConfig(env(map[string]string{key: bad}))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%s: err %v, want one naming %s", key, bad, err, key)
		}
	}
	if _, err := loadLiveConfig(env(map[string]string{"GEMINI_STALL_TIMEOUT": "-1s"})); err == nil {
		t.Error("a negative stall timeout loads")
	}
	// Through run's loader, a bad Live value is one of the reported problems.
	t.Setenv("GEMINI_COMPRESSION", "maybe")
	if _, _, err := loadBotConfig(nil, os.Getenv, io.Discard); err == nil || !strings.Contains(err.Error(), "GEMINI_COMPRESSION") {
		t.Errorf("loadBotConfig with GEMINI_COMPRESSION=maybe: %v", err)
	}
}

// TestConfigRejectsOutOfRange: durations of 0, negative or absurdly small
// values, a list as DISCORD_GUILD_ID and an admin address without a host
// are errors at start that name the setting and the accepted range; a
// wildcard admin host is accepted but flagged for run's warning.
func TestConfigRejectsOutOfRange(t *testing.T) {
	base := map[string]string{"DISCORD_TOKEN": "tok"}
	bad := []struct {
		key, value string
		want       []string
	}{
		{"BOT_TURN_TIMEOUT", "0", []string{"BOT_TURN_TIMEOUT", "5s to 1h0m0s"}},
		{"BOT_TURN_TIMEOUT", "-1m", []string{"BOT_TURN_TIMEOUT", "-1m0s"}},
		{"BOT_TURN_TIMEOUT", "1ns", []string{"BOT_TURN_TIMEOUT", "1ns", "out of range"}},
		{"BOT_IDLE_TIMEOUT", "0", []string{"BOT_IDLE_TIMEOUT", "10s to 24h0m0s"}},
		{"BOT_IDLE_TIMEOUT", "-5m", []string{"BOT_IDLE_TIMEOUT"}},
		{"BOT_IDLE_TIMEOUT", "1ns", []string{"BOT_IDLE_TIMEOUT"}},
		{"BOT_EDIT_INTERVAL", "0", []string{"BOT_EDIT_INTERVAL", "400ms to 1m0s"}},
		{"BOT_EDIT_INTERVAL", "-1s", []string{"BOT_EDIT_INTERVAL"}},
		{"BOT_EDIT_INTERVAL", "1ns", []string{"BOT_EDIT_INTERVAL"}},
		{"BOT_COOLDOWN", "0", []string{"BOT_COOLDOWN", "or negative (off)"}},
		{"BOT_COOLDOWN", "1ns", []string{"BOT_COOLDOWN"}},
		{"BOT_VOICE_IDLE_TIMEOUT", "0", []string{"BOT_VOICE_IDLE_TIMEOUT", "stay until alone"}},
		{"BOT_VOICE_IDLE_TIMEOUT", "1ns", []string{"BOT_VOICE_IDLE_TIMEOUT"}},
		{"GEMINI_STALL_TIMEOUT", "1ns", []string{"GEMINI_STALL_TIMEOUT", "1s to 10m0s"}},
		{"GEMINI_CONNECT_TIMEOUT", "0", []string{"GEMINI_CONNECT_TIMEOUT", "1s to 2m0s"}},
		{"GEMINI_CONNECT_TIMEOUT", "1ns", []string{"GEMINI_CONNECT_TIMEOUT"}},
		{"GEMINI_TURN_TIMEOUT", "-1m", []string{"GEMINI_TURN_TIMEOUT", "10s to 2h0m0s"}},
		{"GEMINI_MAX_REPLY", "0s", []string{"GEMINI_MAX_REPLY", "1s to 1h0m0s"}},
		{"DISCORD_GUILD_ID", "123,456", []string{"guild", "one guild ID"}},
		{"DISCORD_GUILD_ID", "123 456", []string{"guild", "one guild ID"}},
		{"DISCORD_ADMIN_ROLES", "admins", []string{"admin roles", "admins"}},
		{"ADMIN_ADDR", ":0", []string{"ADMIN_ADDR", "every interface", "127.0.0.1:0"}},
		{"ADMIN_ADDR", ":9464", []string{"ADMIN_ADDR", "every interface"}},
		{"ADMIN_ADDR", "localhost", []string{"ADMIN_ADDR", "host:port"}},
	}
	for _, tt := range bad {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			e := maps.Clone(base)
			e[tt.key] = tt.value
			_, _, err := loadBotConfig(nil, env(e), io.Discard)
			if err == nil {
				t.Fatalf("%s=%s accepted", tt.key, tt.value)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// Flags are checked the same way.
	if _, _, err := loadBotConfig([]string{"-turn-timeout", "0s"}, env(base), io.Discard); err == nil {
		t.Error("-turn-timeout 0s accepted")
	}
	good := []struct {
		key, value string
		all        bool
	}{
		{"BOT_TURN_TIMEOUT", "5s", false}, {"BOT_TURN_TIMEOUT", "1h", false}, {"BOT_COOLDOWN", "-1s", false},
		{"BOT_VOICE_IDLE_TIMEOUT", "-1s", false}, {"BOT_EDIT_INTERVAL", "400ms", false},
		{"DISCORD_GUILD_ID", "123", false}, {"DISCORD_ADMIN_ROLES", "1,2", false},
		{"GEMINI_CONNECT_TIMEOUT", "3s", false}, {"GEMINI_TURN_TIMEOUT", "5m", false}, {"GEMINI_MAX_REPLY", "2m", false},
		{"ADMIN_ADDR", "127.0.0.1:0", false}, {"ADMIN_ADDR", "[::1]:9464", false},
		{"ADMIN_ADDR", "0.0.0.0:9464", true}, {"ADMIN_ADDR", "[::]:9464", true}, {"ADMIN_ADDR", "off", false},
	}
	for _, tt := range good {
		e := maps.Clone(base)
		e[tt.key] = tt.value
		c, ro, err := loadBotConfig(nil, env(e), io.Discard)
		if err != nil {
			t.Errorf("%s=%s: %v", tt.key, tt.value, err)
			continue
		}
		if ro.AdminAllInterfaces != tt.all {
			t.Errorf("%s=%s: AdminAllInterfaces = %v, want %v", tt.key, tt.value, ro.AdminAllInterfaces, tt.all)
		}
		if tt.key == "DISCORD_ADMIN_ROLES" && !slices.Equal(c.AdminRoles, []string{"1", "2"}) {
			t.Errorf("admin roles = %v", c.AdminRoles)
		}
	}
	// The library refuses negative durations rather than defaulting them.
	if _, err := bot.New(bot.Config{Token: "t", TurnTimeout: -time.Second}); err == nil {
		t.Error("bot.New accepted a negative turn timeout")
	}
}

// TestStoreConfig: the state database's keys are read by the one loader
// (with the data directory), and each bad value stops the start with a
// message naming its key.
func TestStoreConfig(t *testing.T) {
	_, ro, err := loadBotConfig([]string{"-data-dir", "/srv/livecord"}, env(map[string]string{
		"DATABASE_URL": "postgres://u@db/livecord", "LIVECORD_HISTORY_DAYS": "7", "LIVECORD_HISTORY_TOKENS": "900",
		"LIVECORD_USER_DAILY_TOKENS": "5000", "LIVECORD_GUILD_DAILY_COST": "$2.50", "LIVECORD_BUDGET_TZ": "Europe/Paris",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := ro.Store
	if s.DataDir != "/srv/livecord" || s.DatabaseURL != "postgres://u@db/livecord" || s.HistoryRetention != 7*24*time.Hour ||
		s.HistoryTokens != 900 || s.UserDaily.Tokens != 5000 || s.GuildDaily.CostUSD != 2.5 || s.Location.String() != "Europe/Paris" {
		t.Fatalf("store config %+v", s)
	}
	for key, bad := range map[string]string{
		"DATABASE_URL": "mysql://db", "LIVECORD_HISTORY_DAYS": "-1", "LIVECORD_HISTORY_TOKENS": "lots",
		"LIVECORD_GUILD_DAILY_TOKENS": "1e3", "LIVECORD_USER_DAILY_COST": "free", "LIVECORD_BUDGET_TZ": "Mars/Olympus",
		"LIVECORD_PRICES": "gemini-3.8-live=1/2/3",
	} {
		_, _, err := loadBotConfig(nil, env(map[string]string{key: bad}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: err = %v, want one naming the key", key, bad, err)
		}
	}
}

// TestOpusComplexity: BOT_OPUS_COMPLEXITY (or -opus-complexity) reaches the
// run options; the player's measured default otherwise; outside 1..10 the
// start stops naming the key and the range.
func TestOpusComplexity(t *testing.T) {
	for _, tt := range []struct {
		env  string
		args []string
		want int
		err  bool
	}{{"", nil, player.DefaultComplexity, false}, {"3", nil, 3, false}, {"3", []string{"-opus-complexity", "9"}, 9, false},
		{"0", nil, 0, true}, {"11", nil, 0, true}, {"max", nil, 0, true}} {
		_, ro, err := loadBotConfig(tt.args, env(map[string]string{"DISCORD_TOKEN": "tok", "BOT_OPUS_COMPLEXITY": tt.env}), io.Discard)
		if tt.err {
			if err == nil || !strings.Contains(err.Error(), "BOT_OPUS_COMPLEXITY") {
				t.Errorf("BOT_OPUS_COMPLEXITY=%q: err %v, want one naming the key", tt.env, err)
			}
			continue
		}
		if err != nil || ro.OpusComplexity != tt.want {
			t.Errorf("BOT_OPUS_COMPLEXITY=%q %v: %d (%v), want %d", tt.env, tt.args, ro.OpusComplexity, err, tt.want)
		}
	}
}
