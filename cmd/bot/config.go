package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/livecord/livecord/admin"
	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/store"
	"github.com/livecord/livecord/voice/player"
)

// logOptions choose the log handler.
type logOptions struct {
	Level  slog.Level
	Format string // "text" or "json"
}

// newLogger returns the process logger writing to w.
func newLogger(w io.Writer, o logOptions) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.Level}
	if o.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// firstEnv returns the first non-empty variable among names.
func firstEnv(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// splitIDs parses a comma- or space-separated list of snowflakes.
func splitIDs(s string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if _, err := strconv.ParseUint(f, 10, 64); err != nil {
			return nil, fmt.Errorf("%q is not a Discord ID", f)
		}
		out = append(out, f)
	}
	return out, nil
}

// runOptions are `bot run`'s settings that are not the bot's.
type runOptions struct {
	Log   logOptions
	Voice bool // speak in voice channels
	// OpusComplexity is BOT_OPUS_COMPLEXITY (0: the player's default).
	OpusComplexity int
	AdminAddr      string // admin listener address; "" when disabled
	// Store is the state database's configuration (store.ConfigFromEnv),
	// with DataDir set; run adds the logger and opens it.
	Store store.Config
	Tools toolOptions
	// AdminAllInterfaces: AdminAddr names a wildcard host (0.0.0.0, ::), so
	// the unauthenticated /metrics is reachable from other machines; run
	// warns about it.
	AdminAllInterfaces bool
}

// Accepted ranges of the bot's durations. A value outside is an error at
// start naming the range: 0, a negative or 1ns never silently becomes a
// default (or a busy loop).
const (
	minTurnTimeout, maxTurnTimeout   = 5 * time.Second, 1 * time.Hour
	minIdleTimeout, maxIdleTimeout   = 10 * time.Second, 24 * time.Hour
	minEditInterval, maxEditInterval = 400 * time.Millisecond, time.Minute // Discord allows 5 edits per 2 s
	minCooldown, maxCooldown         = time.Second, time.Hour
	minVoiceIdle, maxVoiceIdle       = 10 * time.Second, 24 * time.Hour
)

// durationInRange checks one duration setting: within lo..hi, or negative
// when off says what a negative value means.
func durationInRange(name string, v, lo, hi time.Duration, off string) error {
	if v < 0 && off != "" {
		return nil
	}
	if v >= lo && v <= hi {
		return nil
	}
	accepted := fmt.Sprintf("%v to %v", lo, hi)
	if off != "" {
		accepted += fmt.Sprintf(", or negative (%s)", off)
	}
	return fmt.Errorf("%s: %v is out of range (accepted: %s)", name, v, accepted)
}

// bindsEveryInterface reports whether the admin address listens on every
// interface. An empty host (":9464", ":0") is refused: it binds every
// interface without saying so. An explicit wildcard (0.0.0.0, [::]) is
// accepted, as a container needs it, and reported so run can warn.
func bindsEveryInterface(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("ADMIN_ADDR (-admin-addr): %q is not host:port: %w", addr, err)
	}
	if host == "" {
		return true, fmt.Errorf("ADMIN_ADDR (-admin-addr): %q has no host and would bind every interface; "+
			"use 127.0.0.1%s (this machine only), or 0.0.0.0%s to mean every interface", addr, addr, addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return true, nil
	}
	return false, nil
}

// loadBotConfig reads the whole configuration, the Discord side and Live's
// (cfg.Live, from loadLiveConfig): flags win over the environment (which
// main has already filled from .env without overriding what was set). The
// token is read only from the environment: a flag would show it in process
// listings. Every bad value is reported, joined in err.
func loadBotConfig(args []string, getenv func(string) string, stderr io.Writer) (cfg bot.Config, ro runOptions, err error) {
	lo := &ro.Log
	var errs []error
	dur := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			return def
		}
		return d
	}
	num := func(name string, def int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			return def
		}
		return n
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	apiURL := fs.String("api-url", getenv("DISCORD_API_URL"),
		"send REST and the gateway lookup to this base URL instead of discord.com: a REST proxy or an emulator (env DISCORD_API_URL)")
	guild := fs.String("guild", firstEnv(getenv, "DISCORD_GUILD_ID", "GUILD_ID"),
		"register commands in this guild only, for development (env DISCORD_GUILD_ID)")
	fs.IntVar(&cfg.ShardID, "shard-id", num("DISCORD_SHARD_ID", 0), "this process's gateway shard (env DISCORD_SHARD_ID)")
	fs.IntVar(&cfg.ShardCount, "shard-count", num("DISCORD_SHARD_COUNT", 1), "total gateway shards; 1 runs unsharded (env DISCORD_SHARD_COUNT)")
	dataDir := fs.String("data-dir", firstEnv(getenv, "LIVECORD_DATA_DIR"),
		"directory for per-guild settings and state (env LIVECORD_DATA_DIR, default ./data)")
	guilds := fs.String("allowed-guilds", getenv("DISCORD_ALLOWED_GUILDS"),
		"comma-separated guild IDs allowed to use the bot (env DISCORD_ALLOWED_GUILDS)")
	roles := fs.String("allowed-roles", getenv("DISCORD_ALLOWED_ROLES"),
		"comma-separated role IDs allowed to use the bot (env DISCORD_ALLOWED_ROLES)")
	fs.DurationVar(&cfg.Cooldown, "cooldown", dur("BOT_COOLDOWN", bot.DefaultCooldown),
		"minimum time between two /ask of one user; negative disables (env BOT_COOLDOWN)")
	fs.IntVar(&cfg.QueueCap, "queue-cap", num("BOT_QUEUE_CAP", bot.DefaultQueueCap),
		"questions that may wait per guild (env BOT_QUEUE_CAP)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", dur("BOT_IDLE_TIMEOUT", bot.DefaultIdleTimeout),
		"close an idle conversation's Live session after this long (env BOT_IDLE_TIMEOUT)")
	fs.DurationVar(&cfg.VoiceIdleTimeout, "voice-idle-timeout", dur("BOT_VOICE_IDLE_TIMEOUT", bot.DefaultVoiceIdle),
		"leave a voice channel after this long without a spoken reply; negative stays until alone (env BOT_VOICE_IDLE_TIMEOUT)")
	fs.DurationVar(&cfg.TurnTimeout, "turn-timeout", dur("BOT_TURN_TIMEOUT", bot.DefaultTurnTimeout),
		"give up on one answer after this long (env BOT_TURN_TIMEOUT)")
	fs.DurationVar(&cfg.EditInterval, "edit-interval", dur("BOT_EDIT_INTERVAL", bot.DefaultEditInterval),
		"minimum time between two edits of a streaming reply (env BOT_EDIT_INTERVAL)")
	fs.IntVar(&cfg.MaxPromptLength, "max-prompt", num("BOT_MAX_PROMPT_LENGTH", bot.DefaultMaxPromptLength),
		"max_length of /ask prompt, at most 6000 (env BOT_MAX_PROMPT_LENGTH)")
	voiceDefault := true
	if v := getenv("BOT_VOICE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("BOT_VOICE: %w", err))
		}
		voiceDefault = b && err == nil
	}
	fs.BoolVar(&ro.Voice, "voice", voiceDefault, "speak answers in the asker's voice channel (env BOT_VOICE, default true)")
	fs.IntVar(&ro.OpusComplexity, "opus-complexity", num("BOT_OPUS_COMPLEXITY", player.DefaultComplexity),
		"Opus encoder complexity 1-10: CPU per voice stream against quality (env BOT_OPUS_COMPLEXITY)")
	level := fs.String("log-level", firstEnv(getenv, "LOG_LEVEL"), "debug, info, warn or error (env LOG_LEVEL, default info)")
	format := fs.String("log-format", firstEnv(getenv, "LOG_FORMAT"), "text or json (env LOG_FORMAT, default text)")
	adminRoles := fs.String("admin-roles", getenv("DISCORD_ADMIN_ROLES"),
		"comma-separated role IDs that may also use /reset and /voice, besides Manage Server (env DISCORD_ADMIN_ROLES)")
	adminAddr := getenv("ADMIN_ADDR")
	if adminAddr == "" {
		adminAddr = admin.DefaultAddr
	}
	fs.StringVar(&ro.AdminAddr, "admin-addr", adminAddr, `address of the /healthz and /metrics listener, "off" to disable (env ADMIN_ADDR)`)
	if err := fs.Parse(args); err != nil {
		return cfg, ro, err
	}
	if ro.AdminAddr == "off" {
		ro.AdminAddr = ""
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	cfg.Token = firstEnv(getenv, "DISCORD_TOKEN", "DISCORD_BOT_TOKEN")
	cfg.GuildID = *guild
	cfg.APIURL = *apiURL
	cfg.DataDir = *dataDir
	if cfg.DataDir == "" {
		cfg.DataDir = "data"
	}
	if cfg.AllowedGuilds, err = splitIDs(*guilds); err != nil {
		errs = append(errs, fmt.Errorf("allowed guilds: %w", err))
	}
	if cfg.AllowedRoles, err = splitIDs(*roles); err != nil {
		errs = append(errs, fmt.Errorf("allowed roles: %w", err))
	}
	if cfg.AdminRoles, err = splitIDs(*adminRoles); err != nil {
		errs = append(errs, fmt.Errorf("admin roles: %w", err))
	}
	if cfg.GuildID != "" {
		if ids, err := splitIDs(cfg.GuildID); err != nil {
			errs = append(errs, fmt.Errorf("guild: %w", err))
		} else if len(ids) != 1 || ids[0] != cfg.GuildID {
			errs = append(errs, fmt.Errorf("guild: %q must be one guild ID (commands are registered in one guild, or globally when unset)", cfg.GuildID))
		}
	}
	for _, d := range []struct {
		name   string
		v      time.Duration
		lo, hi time.Duration
		off    string // what a negative value means, if anything
	}{
		{"BOT_TURN_TIMEOUT (-turn-timeout)", cfg.TurnTimeout, minTurnTimeout, maxTurnTimeout, ""},
		{"BOT_IDLE_TIMEOUT (-idle-timeout)", cfg.IdleTimeout, minIdleTimeout, maxIdleTimeout, ""},
		{"BOT_EDIT_INTERVAL (-edit-interval)", cfg.EditInterval, minEditInterval, maxEditInterval, ""},
		{"BOT_COOLDOWN (-cooldown)", cfg.Cooldown, minCooldown, maxCooldown, "off"},
		{"BOT_VOICE_IDLE_TIMEOUT (-voice-idle-timeout)", cfg.VoiceIdleTimeout, minVoiceIdle, maxVoiceIdle, "stay until alone"},
	} {
		if err := durationInRange(d.name, d.v, d.lo, d.hi, d.off); err != nil {
			errs = append(errs, err)
		}
	}
	if ro.AdminAddr != "" {
		all, err := bindsEveryInterface(ro.AdminAddr)
		if err != nil {
			errs = append(errs, err)
		}
		ro.AdminAllInterfaces = all
	}
	switch strings.ToLower(*level) {
	case "", "info":
		lo.Level = slog.LevelInfo
	case "debug":
		lo.Level = slog.LevelDebug
	case "warn", "warning":
		lo.Level = slog.LevelWarn
	case "error":
		lo.Level = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("log level %q is not debug, info, warn or error", *level))
	}
	switch lo.Format = strings.ToLower(*format); lo.Format {
	case "", "text":
		lo.Format = "text"
	case "json":
	default:
		errs = append(errs, fmt.Errorf("log format %q is not text or json", *format))
	}
	if cfg.MaxPromptLength < 1 || cfg.MaxPromptLength > 6000 {
		errs = append(errs, fmt.Errorf("max prompt length %d is not within 1..6000", cfg.MaxPromptLength))
	}
	if cfg.ShardCount < 1 || cfg.ShardID < 0 || cfg.ShardID >= cfg.ShardCount {
		errs = append(errs, fmt.Errorf("shard %d of %d is not valid", cfg.ShardID, cfg.ShardCount))
	}
	if ro.OpusComplexity < 1 || ro.OpusComplexity > 10 {
		errs = append(errs, fmt.Errorf("BOT_OPUS_COMPLEXITY %d is not within 1..10", ro.OpusComplexity))
	}
	if cfg.QueueCap < 1 {
		errs = append(errs, fmt.Errorf("queue cap %d must be at least 1", cfg.QueueCap))
	}
	var lerrs []error
	cfg.Live, lerrs = readLiveConfig(getenv)
	errs = append(errs, lerrs...)
	if ro.Store, err = store.ConfigFromEnv(getenv); err != nil {
		errs = append(errs, err)
	}
	ro.Store.DataDir = cfg.DataDir
	errs = append(errs, readToolConfig(getenv, &cfg, &ro.Tools)...)
	cfg.Talk, lerrs = readTalkConfig(getenv)
	errs = append(errs, lerrs...)
	return cfg, ro, errors.Join(errs...)
}

// loadLiveConfig reads Live's settings: GEMINI_API_KEY (falling back to
// GOOGLE_API_KEY), GEMINI_MODEL, GEMINI_API_VERSION, GEMINI_BASE_URL,
// GEMINI_VOICE, GEMINI_LANGUAGE, GEMINI_SYSTEM_INSTRUCTION,
// GEMINI_COMPRESSION (default on), GEMINI_GOOGLE_SEARCH (default on),
// GEMINI_STALL_TIMEOUT, GEMINI_CONNECT_TIMEOUT, GEMINI_TURN_TIMEOUT and
// GEMINI_MAX_REPLY (Go durations) and
// GEMINI_OUTPUT_TRANSCRIPTION (default on). Unset keys leave the defaults
// live.Dial applies; a value that does not parse, or that Live would refuse,
// is an error naming the key (all of them, joined).
func loadLiveConfig(getenv func(string) string) (live.Config, error) {
	c, errs := readLiveConfig(getenv)
	return c, errors.Join(errs...)
}

// readLiveConfig is loadLiveConfig with each problem apart, for
// loadBotConfig's list.
func readLiveConfig(getenv func(string) string) (live.Config, []error) {
	var errs []error
	boolean := func(name string, def bool) bool {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not true or false", name, v))
			return def
		}
		return b
	}
	c := live.Config{
		APIKey:              firstEnv(getenv, "GEMINI_API_KEY", "GOOGLE_API_KEY"),
		Model:               strings.TrimSpace(getenv("GEMINI_MODEL")),
		APIVersion:          strings.TrimSpace(getenv("GEMINI_API_VERSION")),
		BaseURL:             strings.TrimSpace(getenv("GEMINI_BASE_URL")),
		Voice:               strings.TrimSpace(getenv("GEMINI_VOICE")),
		Language:            strings.TrimSpace(getenv("GEMINI_LANGUAGE")),
		SystemInstruction:   getenv("GEMINI_SYSTEM_INSTRUCTION"),
		OutputTranscription: boolean("GEMINI_OUTPUT_TRANSCRIPTION", true),
		Compression:         boolean("GEMINI_COMPRESSION", true),
		GoogleSearch:        boolean("GEMINI_GOOGLE_SEARCH", true),
	}
	if v := strings.TrimSpace(getenv("GEMINI_STALL_TIMEOUT")); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("GEMINI_STALL_TIMEOUT: %q is not a duration such as 30s", v))
		case d < time.Second || d > 10*time.Minute:
			errs = append(errs, fmt.Errorf("GEMINI_STALL_TIMEOUT: %v is out of range (accepted: 1s to 10m0s)", d))
		default:
			c.StallTimeout = d
		}
	}
	// Live's own deadlines and cap: unset takes live's defaults; a value
	// outside its range is an error naming it (never a silent default).
	for _, d := range []struct {
		key    string
		dst    *time.Duration
		lo, hi time.Duration
	}{
		{"GEMINI_CONNECT_TIMEOUT", &c.ConnectTimeout, time.Second, 2 * time.Minute},
		{"GEMINI_TURN_TIMEOUT", &c.TurnTimeout, 10 * time.Second, 2 * time.Hour},
		{"GEMINI_MAX_REPLY", &c.MaxReply, time.Second, time.Hour},
	} {
		v := strings.TrimSpace(getenv(d.key))
		if v == "" {
			continue
		}
		x, err := time.ParseDuration(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %q is not a duration such as 30s", d.key, v))
		case x < d.lo || x > d.hi:
			errs = append(errs, fmt.Errorf("%s: %v is out of range (accepted: %v to %v)", d.key, x, d.lo, d.hi))
		default:
			*d.dst = x
		}
	}
	// Each key alone, so the message names the one Live would refuse.
	for key, one := range map[string]live.Config{
		"GEMINI_MODEL":       {Model: c.Model},
		"GEMINI_API_VERSION": {APIVersion: c.APIVersion},
		"GEMINI_BASE_URL":    {BaseURL: c.BaseURL},
	} {
		if err := one.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return c, errs
}
