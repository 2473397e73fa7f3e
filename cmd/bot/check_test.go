package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"
	"go.uber.org/goleak"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
)

// Credentials shaped like real ones (long enough that check shows their
// last four characters), so the tests see the hint and prove nothing more
// leaks.
const (
	checkToken = "MTE5ODc2NTQzMjEwOTg3NjU0Mw.GhXy7Q.c0ffee-Secret-Token-Part-9f8e7d6c5b4a"
	checkKey   = "AIzaSyCheck-Secret-Key-0123456789abcdef"
)

// clearCheckEnv empties every variable check reads, so the developer's own
// environment cannot change a test.
func clearCheckEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range []string{"DISCORD_", "GEMINI_", "GOOGLE_", "BOT_", "LIVECORD_", "LOG_", "ADMIN_", "GUILD_ID"} {
			if strings.HasPrefix(k, p) {
				t.Setenv(k, "")
			}
		}
	}
}

// noLeaks checks, after the test and its cleanups (the emulators'), that
// check left no goroutine behind.
func noLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// checkEnv is an emulator pair with a guild the bot is in, and the
// environment pointing check at them.
type checkEnv struct {
	dc    *discordtest.Server
	lv    *livetest.Server
	guild discordtest.Guild
}

func newCheckEnv(t *testing.T) *checkEnv {
	t.Helper()
	clearCheckEnv(t)
	dc := discordtest.NewServer(t, discordtest.Options{Token: checkToken, BotName: "livecord-test"})
	lv, err := livetest.New(livetest.Options{Key: checkKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lv.Close() })
	g := dc.AddGuild("check guild")
	for k, v := range map[string]string{
		"DISCORD_TOKEN": checkToken, "DISCORD_API_URL": dc.URL(), "DISCORD_GUILD_ID": g.ID,
		"GEMINI_API_KEY": checkKey, "GEMINI_BASE_URL": lv.URL(), "LIVECORD_DATA_DIR": t.TempDir(),
	} {
		t.Setenv(k, v)
	}
	return &checkEnv{dc: dc, lv: lv, guild: g}
}

// runCheckOutput runs `bot check` through dispatch and returns its exit
// code, stdout and stderr, after checking no secret reached either.
func runCheckOutput(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code = dispatch(context.Background(), append([]string{"check"}, args...), &stdout, &stderr)
	out, errOut = stdout.String(), stderr.String()
	// Every secret in these tests contains "Secret"; the hint shows at
	// most the last four characters.
	for _, secret := range []string{checkToken, checkKey, os.Getenv("DISCORD_TOKEN"), os.Getenv("GEMINI_API_KEY"), os.Getenv("GOOGLE_API_KEY")} {
		if secret != "" && !strings.Contains(secret, "Secret") {
			t.Fatalf("test secret %q lacks the marker", secret)
		}
	}
	if strings.Contains(out+errOut, "Secret") {
		t.Fatalf("output contains part of a secret:\n%s%s", out, errOut)
	}
	return code, out, errOut
}

// lines returns the status lines whose text contains all of want.
func lines(out, status string, want ...string) []string {
	var hits []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, status+" ") {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			hits = append(hits, l)
		}
	}
	return hits
}

func TestCheckAllGood(t *testing.T) {
	noLeaks(t)
	e := newCheckEnv(t)
	code, out, errOut := runCheckOutput(t)
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	all := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if all[len(all)-1] != "all checks passed" {
		t.Errorf("last line %q", all[len(all)-1])
	}
	for _, l := range all[:len(all)-1] {
		if !strings.HasPrefix(l, "OK ") {
			t.Errorf("not OK: %q", l)
		}
	}
	app := e.dc.AppID()
	for _, want := range [][]string{
		{"config", "DISCORD_TOKEN is set (", "characters, ending …" + checkToken[len(checkToken)-4:]},
		{"config", "GEMINI_API_KEY is set (39 characters, ending …" + checkKey[len(checkKey)-4:]},
		{"config", "is writable"},
		{"discord", "token accepted: bot user livecord-test (id " + app + ")"},
		{"discord", "application livecord-test (id " + app + ")"},
		{"discord", "gateway reachable"},
		{"discord", "GUILDS + GUILD_VOICE_STATES (129)"},
		{"discord", "https://discord.com/oauth2/authorize?client_id=" + app + "&scope=bot+applications.commands&permissions=3181568"},
		{"discord", "member of guild check guild (id " + e.guild.ID + ")", "VIEW_CHANNEL, SEND_MESSAGES, ATTACH_FILES, CONNECT, SPEAK"},
		{"gemini", "key accepted and model gemini-3.8-live ready"},
	} {
		if len(lines(out, "OK", want...)) != 1 {
			t.Errorf("no single OK line with %q in:\n%s", want, out)
		}
	}
	if got := len(e.lv.Conns()); got != 1 {
		t.Errorf("Live emulator saw %d connections, want 1", got)
	}
}

func TestCheckBadDiscordToken(t *testing.T) {
	noLeaks(t)
	newCheckEnv(t)
	const wrong = "MTE5ODc2NTQzMjEwOTg3NjU0Mw.GhXy7Q.Wrong-Secret-Token-00000000000000000"
	t.Setenv("DISCORD_TOKEN", wrong)
	code, out, errOut := runCheckOutput(t)
	if code == 0 {
		t.Fatalf("exit 0 with a bad token:\n%s", out)
	}
	if len(lines(out, "FAIL", "discord", "the token was rejected: reset it in the developer portal")) != 1 {
		t.Errorf("no token message:\n%s", out)
	}
	if len(lines(out, "SKIP", "discord")) != 1 || len(lines(out, "OK", "invite URL")) != 0 {
		t.Errorf("checks needing the token were not skipped:\n%s", out)
	}
	// Gemini is independent of Discord: still checked, still fine.
	if len(lines(out, "OK", "gemini", "key accepted")) != 1 {
		t.Errorf("Gemini not checked:\n%s", out)
	}
	if !strings.Contains(errOut, "bot check: 1 problem found") {
		t.Errorf("stderr %q", errOut)
	}
}

// TestCheckGeminiProblems drives each Live failure class through the
// emulator and expects its plain message and a non-zero exit.
func TestCheckGeminiProblems(t *testing.T) {
	noLeaks(t)
	e := newCheckEnv(t)
	tests := []struct {
		name  string
		env   map[string]string
		setup func()
		want  string
	}{
		{name: "bad key", env: map[string]string{"GEMINI_API_KEY": "AIzaSyWrong-Secret-Key-00000000000000"},
			want: "the Gemini API key was rejected: check GEMINI_API_KEY"},
		{name: "google key fallback, bad", env: map[string]string{"GEMINI_API_KEY": "", "GOOGLE_API_KEY": "AIzaSyWrong-Secret-Key-11111111111111"},
			want: "the Gemini API key was rejected"},
		{name: "unknown model", env: map[string]string{"GEMINI_MODEL": "gemini-2.0-flash-live-001"},
			want: "model gemini-2.0-flash-live-001 is not available with API version v1beta"},
		{name: "quota", setup: func() {
			e.lv.RejectSetup(1011, "You exceeded your current quota, please check your plan and billing details.")
		}, want: "the key works but its quota is used up"},
		{name: "settings", setup: func() { e.lv.RejectSetup(1007, "Request contains an invalid argument.") },
			want: "Gemini rejected the session settings"},
		{name: "transient", setup: func() { e.lv.RejectSetup(1011, "Internal error encountered.") },
			want: "could not reach Gemini, or it had a temporary problem"},
		// An unreachable base URL is its own problem, not the key's or the model's.
		{name: "upgrade never answered", env: map[string]string{"GEMINI_BASE_URL": silentServer(t), "GEMINI_CONNECT_TIMEOUT": "1s"},
			want: "could not reach Gemini at http://127.0.0.1:"},
		{name: "nothing listening", env: map[string]string{"GEMINI_BASE_URL": closedPort(t), "GEMINI_CONNECT_TIMEOUT": "1s"},
			want: "check GEMINI_BASE_URL and the network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if tt.setup != nil {
				tt.setup()
			}
			code, out, _ := runCheckOutput(t)
			if code == 0 {
				t.Fatalf("exit 0:\n%s", out)
			}
			if len(lines(out, "FAIL", "gemini", tt.want)) != 1 {
				t.Errorf("no FAIL line with %q:\n%s", tt.want, out)
			}
			if len(lines(out, "FAIL")) != 1 {
				t.Errorf("want exactly one problem:\n%s", out)
			}
		})
	}
}

func TestCheckMissingConfig(t *testing.T) {
	clearCheckEnv(t)
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Nothing listens: with no credentials check must not try the network.
	t.Setenv("DISCORD_API_URL", "http://127.0.0.1:1")
	t.Setenv("GEMINI_BASE_URL", "http://127.0.0.1:1")
	t.Setenv("DISCORD_GUILD_ID", "my-guild")
	t.Setenv("LIVECORD_DATA_DIR", notDir)
	t.Setenv("BOT_QUEUE_CAP", "0")
	code, out, errOut := runCheckOutput(t)
	if code != 1 {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	for _, want := range [][]string{
		{"config", "DISCORD_TOKEN is not set: copy the bot token from the developer portal"},
		{"config", "GEMINI_API_KEY is not set (nor GOOGLE_API_KEY)"},
		{"config", `guild: "my-guild" is not a Discord ID`},
		{"config", "queue cap 0"},
		{"config", notDir + " is not a directory"},
	} {
		if len(lines(out, "FAIL", want...)) != 1 {
			t.Errorf("no FAIL line with %q:\n%s", want, out)
		}
	}
	if len(lines(out, "SKIP", "discord", "DISCORD_TOKEN is not set")) != 1 ||
		len(lines(out, "SKIP", "gemini", "no Gemini API key")) != 1 {
		t.Errorf("unconfigured services not skipped:\n%s", out)
	}
	if !strings.Contains(errOut, "5 problems found") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestCheckDataDirCreatedLater(t *testing.T) {
	newCheckEnv(t)
	dir := filepath.Join(t.TempDir(), "not", "yet")
	t.Setenv("LIVECORD_DATA_DIR", dir)
	code, out, _ := runCheckOutput(t)
	if code != 0 || len(lines(out, "OK", "config", dir+" does not exist yet; the bot will create it")) != 1 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "..")); !os.IsNotExist(err) {
		t.Errorf("check created part of the data directory: %v", err)
	}
}

func TestCheckGuildNotJoined(t *testing.T) {
	noLeaks(t)
	newCheckEnv(t)
	t.Setenv("DISCORD_GUILD_ID", "123456789012345678")
	code, out, _ := runCheckOutput(t)
	if code == 0 {
		t.Fatalf("exit 0:\n%s", out)
	}
	if len(lines(out, "FAIL", "discord", "the bot is not in guild 123456789012345678")) != 1 {
		t.Errorf("no guild message:\n%s", out)
	}
	// The invite URL the message points at is still printed.
	if len(lines(out, "OK", "discord", "invite URL")) != 1 {
		t.Errorf("no invite URL:\n%s", out)
	}
}

func TestCheckDiscordUnreachable(t *testing.T) {
	noLeaks(t)
	newCheckEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("DISCORD_API_URL", "http://"+addr)
	code, out, _ := runCheckOutput(t)
	if code == 0 {
		t.Fatalf("exit 0:\n%s", out)
	}
	if len(lines(out, "FAIL", "discord", "could not check the token with http://"+addr, "cannot reach it")) != 1 {
		t.Errorf("no unreachable message:\n%s", out)
	}
}

func TestCheckBadFlag(t *testing.T) {
	clearCheckEnv(t)
	code, out, errOut := runCheckOutput(t, "-no-such-flag")
	if code != 1 || out != "" || !strings.Contains(errOut, "no-such-flag") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestCheckPermissions(t *testing.T) {
	if checkPermissions != 3181568 {
		t.Fatalf("permissions %d, want 3181568 (the documented invite value)", checkPermissions)
	}
	const guildID, botID, roleID, owner = "1", "2", "3", "4"
	g := func(everyone, role int64) *discordgo.Guild {
		return &discordgo.Guild{ID: guildID, OwnerID: owner, Roles: []*discordgo.Role{
			{ID: guildID, Permissions: everyone}, {ID: roleID, Permissions: role}}}
	}
	voice := int64(discordgo.PermissionVoiceConnect | discordgo.PermissionVoiceSpeak)
	text := int64(discordgo.PermissionViewChannel | discordgo.PermissionSendMessages | discordgo.PermissionAttachFiles)
	tests := []struct {
		name    string
		guild   *discordgo.Guild
		roles   []string
		user    string
		missing string
	}{
		{"everyone grants all", g(checkPermissions, 0), nil, botID, ""},
		{"role adds voice", g(text, voice), []string{roleID}, botID, ""},
		{"role not held", g(text, voice), nil, botID, "CONNECT, SPEAK"},
		{"nothing", g(0, 0), nil, botID, "VIEW_CHANNEL, SEND_MESSAGES, ATTACH_FILES, CONNECT, SPEAK"},
		{"administrator", g(0, discordgo.PermissionAdministrator), []string{roleID}, botID, ""},
		{"owner", g(0, 0), nil, owner, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := permissionNames(checkPermissions &^ guildPermissions(tt.guild, tt.roles, tt.user))
			if got != tt.missing {
				t.Fatalf("missing %q, want %q", got, tt.missing)
			}
		})
	}
}

func TestSecretHint(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"short-key", "9 characters"},
		{checkKey, "39 characters, ending …cdef"},
	} {
		if got := secretHint(tt.in); got != tt.want {
			t.Errorf("secretHint(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	var out bytes.Buffer
	r := &checkReport{w: &out, secrets: []string{checkToken}}
	r.line(statusFail, "discord", "server echoed %s back", checkToken)
	if strings.Contains(out.String(), checkToken) || !strings.Contains(out.String(), "[redacted]") || r.problems != 1 {
		t.Fatalf("report line %q, problems %d", out.String(), r.problems)
	}
}

// TestCheckBotSettings: what only bot.New rejects (as run would) is
// reported too.
func TestCheckBotSettings(t *testing.T) {
	noLeaks(t)
	newCheckEnv(t)
	t.Run("voice", func(t *testing.T) {
		t.Setenv("GEMINI_VOICE", "Nobody")
		code, out, _ := runCheckOutput(t)
		if code == 0 || len(lines(out, "FAIL", "config", `unknown default voice "Nobody"`)) != 1 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("state file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "livecord-state.json"), []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("LIVECORD_DATA_DIR", dir)
		code, out, _ := runCheckOutput(t)
		// run moves a corrupt state file aside and starts with defaults, so
		// check warns (exit 0) and, leaving no trace, keeps the file where it is.
		if code != 0 || len(lines(out, "WARN", "config", "livecord-state.json")) != 1 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "livecord-state.json")); err != nil || string(b) != "{not json" {
			t.Fatalf("check changed the state file: %q, %v", b, err)
		}
	})
}

func TestCheckBadAPIURL(t *testing.T) {
	newCheckEnv(t)
	t.Setenv("DISCORD_API_URL", "127.0.0.1:8080")
	code, out, _ := runCheckOutput(t)
	if code == 0 || len(lines(out, "FAIL")) != 1 ||
		len(lines(out, "FAIL", "config", `DISCORD_API_URL "127.0.0.1:8080" is not an http(s) URL`)) != 1 ||
		len(lines(out, "SKIP", "discord", "DISCORD_API_URL is not usable")) != 1 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// closedPort returns a base URL where nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
