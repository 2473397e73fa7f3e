package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/admin"
	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/store"
)

// runBot runs the Discord bot until ctx is cancelled (SIGINT/SIGTERM), then
// shuts down gracefully: askers of unfinished questions are told, voice is
// left, the gateway closed.
func runBot(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg, ro, err := loadBotConfig(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, ro.Log)
	// discordgo logs through a package-level hook; route it into slog. Its
	// level stays at LogError: at LogDebug it would print the identify
	// payload, token included.
	dglog := log.With("component", "discordgo")
	discordgo.Logger = func(level, _ int, format string, a ...any) {
		l := slog.LevelError
		if level >= discordgo.LogWarning {
			l = slog.LevelWarn
		}
		dglog.Log(ctx, l, fmt.Sprintf(format, a...))
	}
	cfg.Logger = log
	cfg.Live.Logger = log.With("component", "live")
	if cfg.Token == "" {
		return errors.New("DISCORD_TOKEN is not set (in the environment or .env)")
	}
	if cfg.Live.APIKey == "" {
		return errors.New("GEMINI_API_KEY (or GOOGLE_API_KEY) is not set (in the environment or .env)")
	}
	var adm *admin.Server
	if ro.AdminAddr != "" {
		cfg.Metrics = admin.NewMetrics()
		if adm, err = admin.Listen(ro.AdminAddr, cfg.Metrics, log.With("component", "admin")); err != nil {
			return fmt.Errorf("%w (set ADMIN_ADDR=off to run without it)", err)
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = adm.Close(cctx)
		}()
		log.Info("admin listening", "addr", adm.Addr())
		if ro.AdminAllInterfaces {
			log.Warn("the admin listener accepts connections on every interface: /healthz and /metrics have no authentication; "+
				"keep the port firewalled or set ADMIN_ADDR=127.0.0.1:PORT", "addr", adm.Addr())
		}
	}
	if ro.Voice {
		cfg.Voice = &bot.VoiceConfig{OpusComplexity: ro.OpusComplexity, Logger: log.With("component", "voice")}
	}
	ro.Store.Logger = log.With("component", "store")
	st, err := store.Open(ctx, ro.Store)
	if err != nil {
		return fmt.Errorf("open the state database: %w", err)
	}
	defer st.Close()
	cfg.Store = st
	mcp, tools := connectMCP(ctx, ro.Tools.MCP, log.With("component", "mcp"))
	if mcp != nil {
		defer mcp.Close()
	}
	cfg.Tools = append(cfg.Tools, tools...)
	b, err := bot.New(cfg)
	if err != nil {
		return err
	}
	if adm != nil {
		adm.AddCheck("discord", b.CheckGateway)
		adm.AddCheck("live", b.CheckLive)
		adm.AddCheck("store", st.Ping)
	}
	// Retention runs for as long as the bot does, and is waited for before
	// the store closes.
	rctx, stopRetention := context.WithCancel(ctx)
	retention := make(chan struct{})
	go func() {
		defer close(retention)
		st.RunRetention(rctx, time.Hour)
	}()
	defer func() {
		stopRetention()
		<-retention
	}()
	log.Info("starting", "guild", cfg.GuildID, "data_dir", cfg.DataDir, "database", st.Engine(), "model", cfg.Live.Model,
		"voice_playback", cfg.Voice != nil)
	return b.Run(ctx)
}
