package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/live"
)

// Bounds of the checks: long enough for a slow link, short enough that a
// black-holed host does not leave the user staring at nothing.
const (
	checkDiscordTimeout = 20 * time.Second
	checkGeminiTimeout  = 15 * time.Second
)

// The bot's needs, as bot.Run and the voice path use them.
const (
	checkIntents     = discordgo.IntentsGuilds | discordgo.IntentsGuildVoiceStates
	checkPermissions = discordgo.PermissionViewChannel | discordgo.PermissionSendMessages |
		discordgo.PermissionAttachFiles | discordgo.PermissionVoiceConnect | discordgo.PermissionVoiceSpeak
)

// neededPermissions names checkPermissions' bits in the order users see
// them in the portal.
var neededPermissions = []struct {
	bit  int64
	name string
}{
	{discordgo.PermissionViewChannel, "VIEW_CHANNEL"},
	{discordgo.PermissionSendMessages, "SEND_MESSAGES"},
	{discordgo.PermissionAttachFiles, "ATTACH_FILES"},
	{discordgo.PermissionVoiceConnect, "CONNECT"},
	{discordgo.PermissionVoiceSpeak, "SPEAK"},
}

// inviteURL is the link that adds the bot to a guild with what it needs.
func inviteURL(appID string) string {
	return fmt.Sprintf("https://discord.com/oauth2/authorize?client_id=%s&scope=bot+applications.commands&permissions=%d",
		url.QueryEscape(appID), int64(checkPermissions))
}

// Line statuses. Only FAIL makes check exit non-zero; SKIP follows a FAIL
// that made a check impossible.
const (
	statusOK   = "OK"
	statusWarn = "WARN"
	statusFail = "FAIL"
	statusSkip = "SKIP"
)

// checkReport writes one line per checked item and counts the problems.
// Every line passes through redaction, so a secret quoted by a server or a
// transport error cannot reach the terminal.
type checkReport struct {
	w        io.Writer
	secrets  []string
	problems int
}

func (r *checkReport) line(status, area, format string, a ...any) {
	if status == statusFail {
		r.problems++
	}
	msg := fmt.Sprintf(format, a...)
	for _, s := range r.secrets {
		if len(s) >= 6 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	fmt.Fprintf(r.w, "%-4s  %-8s %s\n", status, area, msg)
}

// secretHint says a secret is set without showing it: its length, and its
// last four characters only when it is long enough that they give nothing
// useful away (what Google's and Discord's consoles also show).
func secretHint(s string) string {
	if len(s) >= 24 {
		return fmt.Sprintf("%d characters, ending …%s", len(s), s[len(s)-4:])
	}
	return fmt.Sprintf("%d characters", len(s))
}

// runCheck validates what `bot run` would use, with the same flags and
// environment, and talks to Discord and Gemini to prove the credentials.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, cfgErr := loadBotConfig(args, os.Getenv, stderr)
	var joined interface{ Unwrap() []error }
	if cfgErr != nil && !errors.As(cfgErr, &joined) {
		// A flag that did not parse; the flag set has printed the usage.
		if errors.Is(cfgErr, flag.ErrHelp) {
			return nil
		}
		return cfgErr
	}
	cfg.Token = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(cfg.Token), "Bot "))
	lc := cfg.Live
	r := &checkReport{w: stdout, secrets: []string{cfg.Token, lc.APIKey}}

	ok := checkConfig(r, cfg, lc, joined)
	checkDiscord(ctx, r, cfg, ok)
	checkGemini(ctx, r, lc)

	switch r.problems {
	case 0:
		fmt.Fprintln(stdout, "all checks passed")
		return nil
	case 1:
		return errors.New("1 problem found (the FAIL line above)")
	}
	return fmt.Errorf("%d problems found (the FAIL lines above)", r.problems)
}

// configOK says which settings the service checks can rely on.
type configOK struct {
	guild  bool // DISCORD_GUILD_ID is set and an ID
	apiURL bool // DISCORD_API_URL is empty or usable
}

// checkConfig reports the configuration `bot run` would start with.
func checkConfig(r *checkReport, cfg bot.Config, lc live.Config, cfgErr interface{ Unwrap() []error }) configOK {
	const area = "config"
	ok := configOK{guild: cfg.GuildID != "", apiURL: true}
	if cfgErr != nil {
		for _, e := range cfgErr.Unwrap() {
			if strings.HasPrefix(e.Error(), "guild:") {
				ok.guild = false
			}
			r.line(statusFail, area, "%v", e)
		}
	}
	if _, err := apiBase(cfg.APIURL); err != nil {
		ok.apiURL = false
		r.line(statusFail, area, "%v", err)
	}
	if cfg.Token == "" {
		r.line(statusFail, area, "DISCORD_TOKEN is not set: copy the bot token from the developer portal "+
			"(Applications → your app → Bot → Reset Token) into .env or the environment")
	} else {
		r.line(statusOK, area, "DISCORD_TOKEN is set (%s)", secretHint(cfg.Token))
	}
	switch {
	case lc.APIKey == "":
		r.line(statusFail, area, "GEMINI_API_KEY is not set (nor GOOGLE_API_KEY): create a key in Google AI Studio "+
			"and put it in .env or the environment")
	case os.Getenv("GEMINI_API_KEY") == "":
		r.line(statusOK, area, "GOOGLE_API_KEY is set (%s); GEMINI_API_KEY is not, so it is used", secretHint(lc.APIKey))
	default:
		r.line(statusOK, area, "GEMINI_API_KEY is set (%s)", secretHint(lc.APIKey))
	}
	dirExists := false
	if msg, exists, err := checkDataDir(cfg.DataDir); err != nil {
		r.line(statusFail, area, "data directory: %v", err)
	} else {
		dirExists = exists
		r.line(statusOK, area, "%s", msg)
	}
	// bot.New validates the rest the way run does (API URL, default voice,
	// limits, the stored state's format). Its data directory is only the
	// existing one: New would create a missing directory, and check leaves
	// no trace.
	if cfgErr == nil {
		probe := cfg
		probe.Live = lc
		if !ok.apiURL {
			probe.APIURL = "" // reported above
		}
		// New would tidy the data directory (stale temporary files, a
		// corrupt state file moved aside); check leaves no trace, so it
		// reads the state file itself and New gets no directory.
		probe.DataDir = ""
		if dirExists {
			checkStateFile(r, area, cfg.DataDir)
		}
		if probe.Token == "" {
			probe.Token = "unset" // reported above; let New check the rest
		}
		if _, err := bot.New(probe); err != nil {
			r.line(statusFail, area, "%v", err)
		}
	}
	model, version := lc.Model, lc.APIVersion
	if model == "" {
		model = live.DefaultModel
	}
	if version == "" {
		version = live.DefaultAPIVersion
	}
	r.line(statusOK, area, "Gemini model %s, API version %s, service %s", model, version, serviceName(lc.BaseURL, "Google (default)"))
	if cfg.APIURL != "" && ok.apiURL {
		r.line(statusOK, area, "Discord REST goes to %s (DISCORD_API_URL)", serviceName(cfg.APIURL, ""))
	}
	return ok
}

// apiBase parses DISCORD_API_URL by bot.New's rule; nil when unset.
func apiBase(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("DISCORD_API_URL %q is not an http(s) URL", raw)
	}
	return u, nil
}

// serviceName shows a base URL without any user information it may carry.
func serviceName(base, def string) string {
	if base == "" {
		return def
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// checkDataDir proves the data directory is (or can be created) writable,
// without leaving anything behind.
func checkDataDir(dir string) (msg string, exists bool, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false, err
	}
	p := abs
	for {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return "", false, fmt.Errorf("%s is not a directory (set LIVECORD_DATA_DIR or -data-dir)", p)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", false, err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", false, fmt.Errorf("%s: no existing parent directory", abs)
		}
		p = parent
	}
	f, err := os.CreateTemp(p, ".livecord-check-*")
	if err != nil {
		return "", false, fmt.Errorf("%s is not writable (set LIVECORD_DATA_DIR or -data-dir to a directory the bot may write): %w", p, err)
	}
	f.Close()
	os.Remove(f.Name())
	if p == abs {
		return fmt.Sprintf("data directory %s is writable", abs), true, nil
	}
	return fmt.Sprintf("data directory %s does not exist yet; the bot will create it (%s is writable)", abs, p), false, nil
}

// checkDiscord proves the token, then reads what the portal set-up needs.
func checkDiscord(ctx context.Context, r *checkReport, cfg bot.Config, ok configOK) {
	const area = "discord"
	switch {
	case cfg.Token == "":
		r.line(statusSkip, area, "not checked: DISCORD_TOKEN is not set")
		return
	case !ok.apiURL:
		r.line(statusSkip, area, "not checked: DISCORD_API_URL is not usable")
		return
	}
	dg, closeIdle, err := checkSession(cfg)
	if err != nil {
		r.line(statusFail, area, "%v", err)
		return
	}
	defer closeIdle()
	ctx, cancel := context.WithTimeout(ctx, checkDiscordTimeout)
	defer cancel()
	opt := discordgo.WithContext(ctx)
	where := "Discord"
	if cfg.APIURL != "" {
		where = serviceName(cfg.APIURL, "")
	}

	me, err := dg.User("@me", opt)
	if err != nil {
		if restStatus(err) == http.StatusUnauthorized {
			r.line(statusFail, area, "the token was rejected: reset it in the developer portal "+
				"(Applications → your app → Bot → Reset Token) and set DISCORD_TOKEN to the new one")
		} else {
			r.line(statusFail, area, "could not check the token with %s: %s", where, discordProblem(err))
		}
		r.line(statusSkip, area, "application, gateway, invite URL and guild not checked until the token works")
		return
	}
	if !me.Bot {
		r.line(statusFail, area, "the token belongs to the user account %q, not a bot: use the token from the Bot page "+
			"of your application (running a user account as a bot breaks Discord's terms)", me.Username)
		return
	}
	r.line(statusOK, area, "token accepted: bot user %s (id %s)", me.Username, me.ID)

	appID := me.ID
	var app discordgo.Application
	body, err := dg.RequestWithBucketID(http.MethodGet, discordgo.EndpointApplications+"/@me", nil,
		discordgo.EndpointApplications+"/@me", opt)
	if err == nil {
		err = discordgo.Unmarshal(body, &app)
	}
	if err != nil {
		r.line(statusFail, area, "could not read the application (GET /applications/@me): %s", discordProblem(err))
	} else {
		appID = app.ID
		r.line(statusOK, area, "application %s (id %s)", app.Name, app.ID)
		if app.BotPublic {
			r.line(statusWarn, area, "Public Bot is on: anyone with the invite URL can add the bot and spend your Gemini quota "+
				"(turn it off under Bot → Public Bot)")
		}
		if app.BotRequireCodeGrant {
			r.line(statusWarn, area, "Requires OAuth2 Code Grant is on: the invite URL below will fail (turn it off under Bot)")
		}
	}

	gw, err := dg.GatewayBot(opt)
	switch {
	case err != nil:
		r.line(statusFail, area, "gateway lookup (GET /gateway/bot) failed: %s", discordProblem(err))
	case gw.SessionStartLimit.Total > 0 && gw.SessionStartLimit.Remaining == 0:
		r.line(statusFail, area, "all %d gateway session starts of the day are used: the bot cannot connect for %s",
			gw.SessionStartLimit.Total, (time.Duration(gw.SessionStartLimit.ResetAfter) * time.Millisecond).Round(time.Second))
	default:
		r.line(statusOK, area, "gateway reachable: %d of %d session starts left today, %d shard(s) recommended",
			gw.SessionStartLimit.Remaining, gw.SessionStartLimit.Total, max(gw.Shards, 1))
		if gw.Shards > max(cfg.ShardCount, 1) {
			r.line(statusWarn, area, "Discord recommends %d shards but DISCORD_SHARD_COUNT is %d: past 2500 guilds it refuses "+
				"unsharded connections (run one process per shard)", gw.Shards, max(cfg.ShardCount, 1))
		}
	}

	r.line(statusOK, area, "intents GUILDS + GUILD_VOICE_STATES (%d): neither is privileged, nothing to switch on in the portal",
		checkIntents)
	r.line(statusOK, area, "invite URL (%s): %s", permissionNames(checkPermissions), inviteURL(appID))

	switch {
	case cfg.GuildID == "":
		r.line(statusOK, area, "no DISCORD_GUILD_ID: commands will be registered globally")
	case !ok.guild:
		r.line(statusSkip, area, "guild membership not checked: DISCORD_GUILD_ID is not a valid ID")
	default:
		checkGuild(r, dg, opt, cfg, me.ID)
	}
}

// checkGuild proves the bot is in the development guild and that its roles
// grant what it needs there.
func checkGuild(r *checkReport, dg *discordgo.Session, opt discordgo.RequestOption, cfg bot.Config, botID string) {
	const area = "discord"
	notIn := func(err error) {
		switch restCode(err) {
		case discordgo.ErrCodeUnknownGuild, discordgo.ErrCodeMissingAccess, discordgo.ErrCodeUnknownMember:
			r.line(statusFail, area, "the bot is not in guild %s (DISCORD_GUILD_ID), or there is no such guild: "+
				"add it with the invite URL above, or fix the ID", cfg.GuildID)
		default:
			r.line(statusFail, area, "could not read guild %s: %s", cfg.GuildID, discordProblem(err))
		}
	}
	g, err := dg.Guild(cfg.GuildID, opt)
	if err != nil {
		notIn(err)
		return
	}
	m, err := dg.GuildMember(cfg.GuildID, botID, opt)
	if err != nil {
		notIn(err)
		return
	}
	if missing := checkPermissions &^ guildPermissions(g, m.Roles, botID); missing != 0 {
		r.line(statusWarn, area, "in guild %s the bot's roles lack %s: grant them to its role, or re-invite it with the URL "+
			"above (channel overwrites may still allow them)", g.Name, permissionNames(missing))
	} else {
		r.line(statusOK, area, "member of guild %s (id %s); its roles grant %s", g.Name, g.ID, permissionNames(checkPermissions))
	}
	if len(cfg.AllowedGuilds) > 0 && !slices.Contains(cfg.AllowedGuilds, cfg.GuildID) {
		r.line(statusWarn, area, "DISCORD_GUILD_ID %s is not in DISCORD_ALLOWED_GUILDS: the bot will refuse /ask there", cfg.GuildID)
	}
}

// guildPermissions is the member's guild-level permission set: @everyone's
// and its roles' bits, everything for the owner or an administrator.
// Channel overwrites are not considered.
func guildPermissions(g *discordgo.Guild, memberRoles []string, userID string) int64 {
	const all = int64(^uint64(0) >> 1)
	if g.OwnerID == userID {
		return all
	}
	var p int64
	for _, role := range g.Roles {
		if role.ID == g.ID || slices.Contains(memberRoles, role.ID) {
			p |= role.Permissions
		}
	}
	if p&discordgo.PermissionAdministrator != 0 {
		return all
	}
	return p
}

// permissionNames lists the needed permissions present in bits.
func permissionNames(bits int64) string {
	var names []string
	for _, p := range neededPermissions {
		if bits&p.bit != 0 {
			names = append(names, p.name)
		}
	}
	return strings.Join(names, ", ")
}

// checkSession builds a discordgo session for REST only, pointed at
// cfg.APIURL the way bot.New does it (the host of every request is
// replaced, so discordgo's endpoint variables stay untouched). closeIdle
// releases its connections.
func checkSession(cfg bot.Config) (dg *discordgo.Session, closeIdle func(), err error) {
	if _, err := apiBase(cfg.APIURL); err != nil {
		return nil, nil, err
	}
	rt, tr, err := bot.APITransport(cfg.APIURL)
	if err != nil {
		return nil, nil, err
	}
	dg, err = discordgo.New("Bot " + cfg.Token)
	if err != nil {
		return nil, nil, fmt.Errorf("discord session: %w", err)
	}
	dg.Client = &http.Client{Transport: rt, Timeout: checkDiscordTimeout}
	dg.UserAgent = "DiscordBot (https://github.com/livecord/livecord, 1.0) livecord-check"
	// A 429 is reported, not waited out: during a Cloudflare ban the wait
	// can be an hour.
	dg.ShouldRetryOnRateLimit = false
	return dg, tr.CloseIdleConnections, nil
}

// restStatus is the HTTP status of a Discord REST error (0 if none).
func restStatus(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.StatusCode
	}
	return 0
}

// restCode is Discord's JSON error code of a REST error (0 if none).
func restCode(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil {
		return re.Message.Code
	}
	return 0
}

// discordProblem describes a REST failure in a few plain words.
func discordProblem(err error) string {
	var re *discordgo.RESTError
	var rl *discordgo.RateLimitError
	switch {
	case errors.As(err, &rl):
		return fmt.Sprintf("rate limited by Discord, retry in %s", rl.RetryAfter.Round(time.Second))
	case errors.As(err, &re) && re.Response != nil:
		msg := re.Response.Status
		if re.Message != nil && re.Message.Message != "" {
			msg = fmt.Sprintf("%s: %s (code %d)", msg, re.Message.Message, re.Message.Code)
		}
		return msg
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", checkDiscordTimeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Sprintf("cannot reach it: %v", ue.Err)
	}
	return err.Error()
}

// checkGemini opens a Live session and closes it: setupComplete proves the
// key, the model and the API version together.
func checkGemini(ctx context.Context, r *checkReport, lc live.Config) {
	const area = "gemini"
	if lc.APIKey == "" {
		r.line(statusSkip, area, "not checked: no Gemini API key")
		return
	}
	dctx, cancel := context.WithTimeout(ctx, checkGeminiTimeout)
	defer cancel()
	start := time.Now()
	s, err := live.Dial(dctx, lc)
	if err != nil {
		r.line(statusFail, area, "%s", geminiProblem(err, lc))
		return
	}
	took := time.Since(start)
	s.Close()
	r.line(statusOK, area, "key accepted and model %s ready (session set up in %s)", modelName(lc), took.Round(100*time.Microsecond))
}

func modelName(lc live.Config) string {
	if lc.Model == "" {
		return live.DefaultModel
	}
	return strings.TrimPrefix(lc.Model, "models/")
}

func connectTimeout(lc live.Config) time.Duration {
	if lc.ConnectTimeout > 0 {
		return lc.ConnectTimeout
	}
	return live.DefaultConnectTimeout
}

// geminiProblem turns a failed Dial into what to do about it: which of the
// key, the model, the API version or the base URL is wrong.
func geminiProblem(err error, lc live.Config) string {
	var le *live.Error
	if !errors.As(err, &le) {
		return fmt.Sprintf("could not open a Live session: %v", err)
	}
	said := ""
	if le.Reason != "" {
		said = fmt.Sprintf(" (Gemini said: %q)", le.Reason)
	}
	version := lc.APIVersion
	if version == "" {
		version = live.DefaultAPIVersion
	}
	switch le.Class {
	case live.ClassAuth:
		return "the Gemini API key was rejected: check GEMINI_API_KEY (create a new key in Google AI Studio if it was deleted)" + said
	case live.ClassNotFound:
		return fmt.Sprintf("model %s is not available with API version %s (retired, misspelt, or not a Live model): "+
			"set GEMINI_MODEL to a current Live model such as %s%s", modelName(lc), version, live.DefaultModel, said)
	case live.ClassQuota:
		return "the key works but its quota is used up: wait for it to reset, or raise the limit / enable billing for the project" + said
	case live.ClassInvalidConfig:
		return "Gemini rejected the session settings: check GEMINI_MODEL, GEMINI_VOICE, GEMINI_LANGUAGE and GEMINI_API_VERSION" + said
	case live.ClassUnreachable:
		// The address, not the key or the model: nothing (or no Live API)
		// answered there.
		return fmt.Sprintf("could not reach Gemini at %s: nothing answered the connection or the WebSocket upgrade within %s, "+
			"or a server that is not the Live API did: check GEMINI_BASE_URL and the network (%v)",
			serviceName(lc.BaseURL, live.DefaultBaseURL), connectTimeout(lc), le.Err)
	case live.ClassTimeout:
		return fmt.Sprintf("Gemini at %s accepted the connection but did not finish setting up the session within %s "+
			"(GEMINI_CONNECT_TIMEOUT): retry; if it persists check GEMINI_BASE_URL", serviceName(lc.BaseURL, live.DefaultBaseURL), connectTimeout(lc))
	case live.ClassTransient:
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Sprintf("no answer from Gemini within %s: check the network and GEMINI_BASE_URL, then retry", checkGeminiTimeout)
		}
		if le.Reason == "" && le.Err != nil {
			said = fmt.Sprintf(" (%v)", le.Err)
		}
		return "could not reach Gemini, or it had a temporary problem: retry in a moment; check the network and GEMINI_BASE_URL" + said
	}
	return le.Error()
}

// checkStateFile reports whether the data directory's state file decodes.
// A corrupt one does not stop the bot (run moves it aside and starts with
// defaults), so it is a warning.
func checkStateFile(r *checkReport, area, dir string) {
	path := filepath.Join(dir, "livecord-state.json")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		r.line(statusFail, area, "state file: %v", err)
	case !json.Valid(b):
		r.line(statusWarn, area, "state file %s does not decode: run will move it aside and start with default settings", path)
	}
}
