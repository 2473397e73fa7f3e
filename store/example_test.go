package store_test

import (
	"context"
	"fmt"
	"time"

	"github.com/livecord/livecord/store"
)

// The calls the bot makes around one /ask, on a throwaway in-memory store
// (the bot passes store.ConfigFromEnv's result with DataDir set).
func Example() {
	ctx := context.Background()
	cfg := store.Config{UserDaily: store.Budget{Tokens: 2000}}
	s, err := store.Open(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

	// /voice (Manage Server): one transaction, nothing changes on failure.
	if _, err := s.UpdateSettings(ctx, "guild:1", func(st *store.Settings) { st.Voice = "Puck" }); err != nil {
		panic(err)
	}
	// /ask: the budget first (after the defer), then the session's settings.
	dec, _ := s.Check(ctx, "1", "42", now)
	st, _ := s.Settings(ctx, "guild:1")
	fmt.Println("allowed:", dec.Allowed, "voice:", st.Voice)

	// Live's turnComplete: usage, transcripts and the newest handle at once.
	tok := store.TokensFromUsage(1500, 600, 0,
		[]store.ModalityCount{{Modality: "TEXT", Count: 1500}}, []store.ModalityCount{{Modality: "AUDIO", Count: 600}})
	if err := s.RecordTurn(ctx, store.Turn{Key: "guild:1", GuildID: "1", UserID: "42", UserName: "Ada",
		Prompt: "What is a qubit?", Reply: "The quantum version of a bit.", At: now,
		Model: "gemini-3.8-live", Modality: "text", Tokens: tok, Handle: "handle-1"}); err != nil {
		panic(err)
	}

	// The next /ask: over budget, with the time it resets.
	dec, _ = s.Check(ctx, "1", "42", now)
	fmt.Println("allowed:", dec.Allowed, dec.Scope, dec.Measure, dec.Used, "of", dec.Limit, "until", dec.ResetAt.Format(time.RFC3339))

	// An expired handle: seed the new session from history.
	hist, _ := s.RecentHistory(ctx, "guild:1", 4000)
	fmt.Printf("seed: %d turn(s), first asked by %s: %q\n", len(hist), hist[0].UserName, hist[0].Prompt)

	// /usage.
	r, _ := s.UsageReport(ctx, "1", now, 3)
	fmt.Printf("today: %d tokens, $%.4f; top user %s\n", r.Today.Tokens.Total(), r.Today.CostUSD, r.TopUsers[0].UserName)
	// Output:
	// allowed: true voice: Puck
	// allowed: false user tokens 2100 of 2000 until 2026-12-07T00:00:00Z
	// seed: 1 turn(s), first asked by Ada: "What is a qubit?"
	// today: 2100 tokens, $0.0083; top user Ada
}
