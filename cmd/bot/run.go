package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/live"
)

// newVoiceDialer, when set (by the voice package's wiring in this command),
// gives the bot a voice connection per guild; nil runs the bot with text and
// WAV replies only.
var newVoiceDialer func(log *slog.Logger) (bot.VoiceDialer, error)

func init() {
	commands["run"] = command{summary: "the Discord bot (default)", run: runBot}
}

// runBot runs the Discord bot until ctx is cancelled (SIGINT/SIGTERM), then
// shuts down gracefully: askers of unfinished questions are told, voice is
// left, the gateway closed.
func runBot(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg, lo, err := loadBotConfig(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, lo)
	cfg.Logger = log
	cfg.Live = live.ConfigFromEnv()
	cfg.Live.Logger = log.With("component", "live")
	if cfg.Token == "" {
		return errors.New("DISCORD_TOKEN is not set (in the environment or .env)")
	}
	if cfg.Live.APIKey == "" {
		return errors.New("GEMINI_API_KEY (or GOOGLE_API_KEY) is not set (in the environment or .env)")
	}
	if newVoiceDialer != nil {
		if cfg.Voice, err = newVoiceDialer(log.With("component", "voice")); err != nil {
			return fmt.Errorf("voice: %w", err)
		}
	}
	b, err := bot.New(cfg)
	if err != nil {
		return err
	}
	log.Info("starting", "guild", cfg.GuildID, "data_dir", cfg.DataDir, "model", cfg.Live.Model,
		"voice_playback", cfg.Voice != nil)
	return b.Run(ctx)
}
