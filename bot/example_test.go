package bot_test

import (
	"context"
	"log"
	"log/slog"
	"os"
	"os/signal"

	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/live"
)

// Example runs the bot as `bot run` does: Discord token and Live key from
// the environment, voice through the voice package, until SIGINT.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	b, err := bot.New(bot.Config{
		Token:   os.Getenv("DISCORD_TOKEN"),
		DataDir: "data",
		Live:    live.Config{APIKey: os.Getenv("GEMINI_API_KEY"), Voice: "Kore"}, // Voice: the default voice
		Voice:   &bot.VoiceConfig{Logger: logger},
		Logger:  logger,
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Run(ctx); err != nil { // returns after a graceful shutdown
		log.Fatal(err)
	}
}
