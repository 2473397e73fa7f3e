// Package bot is livecord's Discord side: slash commands and their
// registration, interaction replies, one Gemini Live conversation per guild
// (per user in DMs), limits and access control, budgets and usage, with its
// state (settings, handles, history, usage) in a store.Store.
//
// A /ask is deferred at once (type 5), queued on its conversation, sent to
// Live as one turn; the deferred reply is edited as the transcript grows
// (throttled) and ends holding the quoted prompt, the transcript, the
// duration and reply.wav (Ogg/Opus past the upload limit). When the asker
// sits in a voice channel and Config.Voice is set, the reply's PCM is also
// spoken there as it streams, through one voice.Channel per guild.
//
// Files: bot.go (Config, New, Run, shutdown), events.go (gateway dispatch),
// commands.go (slash commands), conversation.go (queues and Live turns),
// editor.go (throttled edits), reply.go (the final message), rest.go
// (interaction REST calls), voice.go (the guilds' voice channels),
// voicecommands.go (/join, /leave, permissions), state.go (the store:
// settings, handles, turns, budgets), usage.go (/usage, /forget),
// permissions.go (Manage Server), tools.go (the tool registry, the
// built-ins bound to the guild, a turn's calls), sources.go (tool lines and
// grounding links under an answer), image.go (/ask image:), persona.go
// (/persona), talk.go (/talk: the spoken conversation), floor.go (who is
// heard when several speak), transcript.go (its running transcript),
// health.go, metrics.go.
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/admin"
	"github.com/livecord/livecord/imagefit"
	"github.com/livecord/livecord/internal/tasks"
	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/store"
	"github.com/livecord/livecord/tool"
)

// Defaults for the zero values of Config.
const (
	DefaultCooldown        = 5 * time.Second
	DefaultQueueCap        = 5
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultTurnTimeout     = 3 * time.Minute
	DefaultEditInterval    = 1200 * time.Millisecond
	DefaultMaxPromptLength = 1000
	DefaultVoiceIdle       = 10 * time.Minute
)

// Config configures a Bot. Token is required.
type Config struct {
	// Token is the Discord bot token (with or without the "Bot " prefix).
	Token string
	// GuildID registers the commands in that guild only (instant updates,
	// for development); empty registers them globally.
	GuildID string
	// ShardID and ShardCount run this process as one gateway shard of
	// ShardCount (0 or 1: unsharded). Shard 0 gets the DMs and registers
	// the commands.
	ShardID, ShardCount int
	// Store holds the state: settings, resumption handles, the
	// registered-commands hash, history and usage (budgets). The caller
	// owns it (opens and closes it). When nil, Run opens a SQLite store in
	// DataDir (importing an old livecord-state.json) and closes it on return.
	Store *store.Store
	// DataDir is where Run opens its own store when Store is nil; empty
	// keeps that store in memory.
	DataDir string
	// Live is the base Live configuration; its Voice is the default voice,
	// which /voice overrides per guild.
	Live live.Config
	// AllowedGuilds and AllowedRoles, when not empty, restrict who may use
	// the bot: the guild must be listed, and the member must have one of the
	// roles. DMs are refused while either list is set.
	AllowedGuilds []string
	AllowedRoles  []string
	// AdminRoles may also run the commands that change what a whole guild
	// shares (/reset, /voice), besides members with Manage Server.
	AdminRoles []string
	// Cooldown is the minimum time between two /ask of one user (default
	// DefaultCooldown; negative disables it).
	Cooldown time.Duration
	// QueueCap is how many /ask may wait behind the running one per
	// conversation (default DefaultQueueCap).
	QueueCap int
	// IdleTimeout closes a conversation's Live session after this long
	// without a turn; the next turn resumes it by handle.
	IdleTimeout time.Duration
	// TurnTimeout bounds one turn (default DefaultTurnTimeout).
	TurnTimeout time.Duration
	// EditInterval is the minimum time between two edits of a streaming
	// reply (default DefaultEditInterval, inside Discord's 5 per 2 s).
	EditInterval time.Duration
	// MaxPromptLength is /ask prompt's max_length (default
	// DefaultMaxPromptLength, at most 6000).
	MaxPromptLength int
	// Voice plays replies in voice channels; nil means text and WAV only.
	Voice *VoiceConfig
	// VoiceIdleTimeout leaves a voice channel after this long without a
	// spoken reply (default DefaultVoiceIdle; negative: stay until alone).
	VoiceIdleTimeout time.Duration
	// HTTPClient carries REST requests and the gateway lookup (the Discord
	// emulator's client in tests). Default: a client of its own.
	HTTPClient *http.Client
	// APIURL, when set (e.g. "http://127.0.0.1:8080"), sends every REST
	// request and the gateway lookup to that host instead of discord.com:
	// a REST proxy, or the Discord emulator. Ignored with HTTPClient.
	APIURL string
	// Logger receives the bot's logs; tokens never reach it.
	Logger *slog.Logger
	// Tools are offered to Live beside the built-in ones (stop speaking,
	// leave, set the voice, who is in the channel, the clock): the MCP
	// servers' tools. ToolTimeout bounds a call that sets no timeout of its
	// own (default 10 s); TimeZone is the clock's default zone (nil: UTC).
	Tools       []tool.Tool
	ToolTimeout time.Duration
	TimeZone    *time.Location
	// Image limits the pictures /ask image: takes (imagefit's defaults for
	// zero fields); ImageClient downloads them (default: a client bounded
	// by imageFetchTimeout).
	Image       imagefit.Options
	ImageClient *http.Client
	// Talk tunes spoken conversations (/talk; needs Voice).
	Talk TalkConfig
	// Metrics, when set, receives turns, latencies, errors by class and the
	// open Live sessions, voice connections and queued turns.
	Metrics *admin.Metrics
}

// Bot is a running Discord bot. Create it with New and start it with Run.
type Bot struct {
	cfg   Config
	log   *slog.Logger
	met   metrics
	st    *store.Store
	ownSt bool // Run opened st and closes it
	http  *http.Client
	dg    *discordgo.Session
	appID string

	ctx    context.Context // cancelled when Run starts shutting down
	cancel context.CancelFunc
	// goodbye bounds all the messages posted while shutting down together
	// (ended shutdownGrace after shutdown starts), so a slow Discord cannot
	// stretch a shutdown one message at a time.
	goodbye    context.Context
	endGoodbye context.CancelFunc
	tasks      tasks.Group // handlers and conversation workers; refuses new ones once shutdown begins

	mu    sync.Mutex
	convs map[string]*conversation

	// lastAsk maps a user to their last accepted /ask (a time.Time); read
	// before the defer, so it takes no lock. cooldownSwept is when it was
	// last pruned (Unix ns).
	lastAsk       sync.Map
	cooldownSwept atomic.Int64
	// seen holds the interaction ids already handled: each acts once.
	seen onceIDs

	tools      *tool.Registry // built-in and configured tools
	imgOnce    sync.Once
	img        *http.Client // default image download client
	voice      voiceChannels
	liveHealth liveHealth    // latest Live connection outcome, for /healthz
	ready      chan struct{} // closed once connected and commands are registered
}

// New checks cfg and opens the data directory.
func New(cfg Config) (*Bot, error) {
	cfg.Token = strings.TrimSpace(strings.TrimPrefix(cfg.Token, "Bot "))
	if cfg.Token == "" {
		return nil, errors.New("bot: a Discord token is required (DISCORD_TOKEN)")
	}
	// Zero values take the defaults; a negative one is a mistake, not a
	// request for the default.
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"idle timeout", cfg.IdleTimeout}, {"turn timeout", cfg.TurnTimeout}, {"edit interval", cfg.EditInterval}} {
		if d.v < 0 {
			return nil, fmt.Errorf("bot: %s %v is negative", d.name, d.v)
		}
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = DefaultCooldown
	}
	if cfg.QueueCap <= 0 {
		cfg.QueueCap = DefaultQueueCap
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.VoiceIdleTimeout == 0 {
		cfg.VoiceIdleTimeout = DefaultVoiceIdle
	}
	if cfg.TurnTimeout <= 0 {
		cfg.TurnTimeout = DefaultTurnTimeout
	}
	if cfg.EditInterval <= 0 {
		cfg.EditInterval = DefaultEditInterval
	}
	if cfg.MaxPromptLength <= 0 {
		cfg.MaxPromptLength = DefaultMaxPromptLength
	}
	if cfg.ShardCount > 1 && (cfg.ShardID < 0 || cfg.ShardID >= cfg.ShardCount) {
		return nil, fmt.Errorf("bot: shard %d is not within 0..%d", cfg.ShardID, cfg.ShardCount-1)
	}
	if cfg.MaxPromptLength > 6000 {
		return nil, fmt.Errorf("bot: max prompt length %d is over Discord's 6000", cfg.MaxPromptLength)
	}
	if cfg.Live.Voice != "" && canonicalVoice(cfg.Live.Voice) == "" {
		return nil, fmt.Errorf("bot: unknown default voice %q", cfg.Live.Voice)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var rt http.RoundTripper
	if cfg.HTTPClient == nil {
		var err error
		if rt, _, err = APITransport(cfg.APIURL); err != nil {
			return nil, err
		}
	}
	b := &Bot{cfg: cfg, log: cfg.Logger, met: metrics{cfg.Metrics}, st: cfg.Store, http: cfg.HTTPClient,
		convs: map[string]*conversation{}, ready: make(chan struct{})}
	var err error
	if b.tools, err = newToolRegistry(b); err != nil {
		return nil, err
	}
	if b.http == nil {
		b.http = &http.Client{Transport: rt, Timeout: 30 * time.Second}
	}
	return b, nil
}

// Run connects to Discord, registers the commands and serves interactions
// until ctx is cancelled; then it finishes or closes every turn (telling
// the askers), leaves voice, and disconnects. It returns nil after a clean
// shutdown.
func (b *Bot) Run(ctx context.Context) error {
	if b.st == nil {
		st, err := store.Open(ctx, store.Config{DataDir: b.cfg.DataDir, Logger: b.cfg.Logger,
			HistoryTokens: store.DefaultHistoryTokens})
		if err != nil {
			return fmt.Errorf("bot: %w", err)
		}
		b.st, b.ownSt = st, true
	}
	if b.ownSt {
		defer func() {
			if err := b.st.Close(); err != nil {
				b.log.Warn("close the store", "err", err)
			}
		}()
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	defer b.cancel()
	b.goodbye, b.endGoodbye = context.WithCancel(context.Background())
	defer b.endGoodbye()
	dg, err := discordgo.New("Bot " + b.cfg.Token)
	if err != nil {
		return fmt.Errorf("bot: %w", err)
	}
	dg.Client = apiV10Client(b.http)
	dg.UserAgent = "DiscordBot (https://github.com/livecord/livecord, 1.0) livecord"
	dg.Identify.Intents = discordgo.IntentsGuilds | discordgo.IntentsGuildVoiceStates
	if b.cfg.ShardCount > 1 {
		dg.ShardID, dg.ShardCount = b.cfg.ShardID, b.cfg.ShardCount
	}
	dg.AddHandler(b.onEvent)
	b.dg = dg
	if err := dg.Open(); err != nil {
		b.http.CloseIdleConnections()
		return fmt.Errorf("bot: connect to Discord: %w", err)
	}
	b.appID = dg.State.Application.ID
	if b.appID == "" {
		b.appID = dg.State.User.ID
	}
	b.log.Info("connected to Discord", "user", dg.State.User.Username, "app", b.appID)
	if b.cfg.ShardCount <= 1 || b.cfg.ShardID == 0 {
		err = b.registerCommands(ctx)
	}
	if err == nil {
		close(b.ready)
		<-ctx.Done()
	}
	b.shutdown()
	if err != nil {
		return err
	}
	b.log.Info("bot stopped")
	return nil
}

// Ready is closed once Run has connected and registered the commands.
func (b *Bot) Ready() <-chan struct{} { return b.ready }

// CheckGateway reports whether the main gateway connection is up, for a
// health check.
func (b *Bot) CheckGateway(context.Context) error {
	select {
	case <-b.ready:
	default:
		return errors.New("not connected to Discord yet")
	}
	b.dg.RLock()
	up := b.dg.DataReady
	b.dg.RUnlock()
	if !up {
		return errors.New("the Discord gateway connection is down (reconnecting)")
	}
	return nil
}

// shutdown stops new work, lets workers tell their askers, leaves voice and
// closes the gateway.
func (b *Bot) shutdown() {
	grace := time.AfterFunc(shutdownGrace, b.endGoodbye)
	defer grace.Stop()
	b.cancel() // handlers and enqueue refuse work from here on
	b.tasks.Close()
	b.closeTools()
	b.leaveAllVoice()
	if err := b.dg.Close(); err != nil {
		b.log.Warn("close gateway", "err", err)
	}
	b.http.CloseIdleConnections()
}

func (b *Bot) botUserID() string {
	if b.dg != nil && b.dg.State != nil && b.dg.State.User != nil {
		return b.dg.State.User.ID
	}
	return ""
}

// noMentions is allowed_mentions with nothing allowed: echoed prompts and
// model text must never ping anyone.
var noMentions = &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}

// shutdownGrace is how long askers may be told goodbye during a shutdown,
// all messages together; voice is left and the gateway closed after it.
const shutdownGrace = 2500 * time.Millisecond
