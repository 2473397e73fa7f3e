package bot_test

import (
	"context"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/store"
)

// Example runs the bot as `bot run` does: Discord token and Live key from
// the environment, state in the store (SQLite in ./data, or DATABASE_URL),
// voice through the voice package, until SIGINT.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	scfg, err := store.ConfigFromEnv(os.Getenv) // budgets, history, prices
	if err != nil {
		log.Fatal(err)
	}
	scfg.DataDir, scfg.Logger = "data", logger
	st, err := store.Open(ctx, scfg) // imports an old livecord-state.json once
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	go st.RunRetention(ctx, time.Hour) // ends with ctx
	b, err := bot.New(bot.Config{
		Token:  os.Getenv("DISCORD_TOKEN"),
		Store:  st,
		Live:   live.Config{APIKey: os.Getenv("GEMINI_API_KEY"), Voice: "Kore"}, // Voice: the default voice
		Voice:  &bot.VoiceConfig{Logger: logger},
		Logger: logger,
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Run(ctx); err != nil { // returns after a graceful shutdown
		log.Fatal(err)
	}
}
