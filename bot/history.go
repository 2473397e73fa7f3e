package bot

import (
	"context"
	"log/slog"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/store"
)

// seedHistory puts the conversation's recent turns (within the configured
// history token budget) into cfg.History, so that a new session, started
// because the handle expired, was refused or was never kept, goes on
// from what was said.
func (b *Bot) seedHistory(ctx context.Context, key string, cfg *live.Config) error {
	hist, err := b.st.RecentHistory(ctx, key, b.st.HistoryTokens())
	if err != nil {
		return &storeError{err}
	}
	cfg.History = historyTurns(hist)
	if len(hist) > 0 {
		b.log.Info("new live session seeded from history", "conversation", key, "turns", len(hist))
	}
	return nil
}

// historyTurns renders remembered exchanges as Live turns: who asked goes
// with the question, so the model can tell the members apart.
func historyTurns(hist []store.HistoryTurn) []live.HistoryTurn {
	var out []live.HistoryTurn
	for _, h := range hist {
		prompt := h.Prompt
		if h.UserName != "" {
			prompt = h.UserName + " asked: " + prompt
		}
		out = append(out, live.HistoryTurn{Role: "user", Text: prompt})
		if h.Reply != "" {
			out = append(out, live.HistoryTurn{Role: "model", Text: h.Reply})
		}
	}
	return out
}

// record stores a finished turn (transcripts, who asked, usage, the newest
// handle) in one transaction. When that fails the answer still goes out,
// with a note saying it was neither counted nor remembered.
func (c *conversation) record(j *job, r *reply, usage live.Usage, handle string, log *slog.Logger) {
	ctx, cancel := stateCtx()
	defer cancel()
	t := store.Turn{Key: c.key, GuildID: c.guildID, UserID: j.userID, UserName: j.userName,
		Prompt: j.prompt, Reply: r.transcript, Model: c.b.model(), Modality: "text",
		Tokens: tokensOf(usage), Handle: handle}
	if err := c.b.st.RecordTurn(ctx, t); err != nil {
		log.Warn("could not record the turn", "err", err)
		c.b.met.failed("store")
		r.notes = append(r.notes, "I couldn't save this exchange (the bot's database isn't answering), so it isn't counted in /usage and won't be remembered after this session ends.")
		return
	}
	c.b.met.tokens(t.Model, t.Tokens)
}
