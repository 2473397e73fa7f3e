package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
	"unicode/utf8"
)

// Turn is one answered question: what the bot records after Live's
// turnComplete.
type Turn struct {
	// Key is the conversation ("guild:ID" or "dm:ID").
	Key string
	// GuildID is "" in a DM.
	GuildID string
	// UserID and UserName say who asked (the display name at the time).
	UserID, UserName string
	// Prompt and Reply are the transcripts of the question and the answer.
	Prompt, Reply string
	// At is when the turn ended (zero: now).
	At time.Time
	// Model is the Live model id; Modality is the question's modality
	// ("text" for /ask, "audio" for speech).
	Model, Modality string
	// Tokens is the turn's usage (see TokensFromUsage).
	Tokens Tokens
	// Handle, when set, becomes the conversation's resumption handle in
	// the same transaction.
	Handle string
}

// RecordTurn stores a turn's history row and usage row (and its handle)
// in one transaction: all of it is kept, or none.
func (s *Store) RecordTurn(ctx context.Context, t Turn) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if t.At.IsZero() {
		t.At = time.Now()
	}
	at := ms(t.At)
	tok := t.Tokens
	cost := s.prices.CostMicros(t.Model, tok)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO history (conv_key, guild_id, user_id, user_name, prompt, reply, at)
	VALUES (?, ?, ?, ?, ?, ?, ?)`), t.Key, t.GuildID, t.UserID, t.UserName, t.Prompt, t.Reply, at); err != nil {
			return fmt.Errorf("history: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO usage_turns (at, guild_id, user_id, user_name, model, modality,
	prompt_text, prompt_audio, prompt_other, response_text, response_audio, thoughts, total, cost_micros)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), at, t.GuildID, t.UserID, t.UserName, t.Model, t.Modality,
			tok.PromptText, tok.PromptAudio, tok.PromptOther, tok.ResponseText, tok.ResponseAudio, tok.Thoughts,
			tok.Total(), cost); err != nil {
			return fmt.Errorf("usage: %w", err)
		}
		if t.Handle != "" {
			if err := s.setHandle(ctx, tx, t.Key, t.Handle); err != nil {
				return fmt.Errorf("handle: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: record turn of %s: %w", t.Key, err)
	}
	return nil
}

// HistoryTurn is one remembered exchange.
type HistoryTurn struct {
	UserID, UserName string
	Prompt, Reply    string
	At               time.Time
}

// EstimateTokens guesses a text's token count without a tokenizer: about
// four bytes of UTF-8 per token for English, one token per character for
// scripts whose characters take three bytes (CJK), whichever is larger.
func EstimateTokens(s string) int {
	byBytes := (len(s) + 3) / 4
	if n := utf8.RuneCountInString(s); len(s) >= 2*n && n > byBytes {
		return n
	}
	return byBytes
}

// turnOverhead is the estimated cost of a turn's framing (roles, parts).
const turnOverhead = 8

// TurnTokens is the estimate RecentHistory charges a turn against its budget.
func TurnTokens(h HistoryTurn) int {
	return EstimateTokens(h.Prompt) + EstimateTokens(h.Reply) + turnOverhead
}

// historyScan caps the rows RecentHistory reads, whatever the budget.
const historyScan = 500

// RecentHistory returns the newest turns of a conversation whose estimated
// tokens fit in maxTokens, oldest first: what seeds a new Live session when
// the resumption handle has expired. A turn that alone exceeds the budget
// ends the list.
func (s *Store) RecentHistory(ctx context.Context, key string, maxTokens int) ([]HistoryTurn, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if maxTokens <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT user_id, user_name, prompt, reply, at FROM history
	WHERE conv_key = ? ORDER BY id DESC LIMIT ?`), key, historyScan)
	if err != nil {
		return nil, fmt.Errorf("store: read history of %s: %w", key, err)
	}
	defer rows.Close()
	var out []HistoryTurn
	used := 0
	for rows.Next() {
		var h HistoryTurn
		var at int64
		if err := rows.Scan(&h.UserID, &h.UserName, &h.Prompt, &h.Reply, &at); err != nil {
			return nil, fmt.Errorf("store: read history of %s: %w", key, err)
		}
		h.At = fromMS(at)
		n := TurnTokens(h)
		if used+n > maxTokens {
			break
		}
		used += n
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read history of %s: %w", key, err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// ResetConversation forgets a conversation (/reset): its history and its
// resumption handle, in one transaction. Settings and usage stay.
func (s *Store) ResetConversation(ctx context.Context, key string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM history WHERE conv_key = ?"), key); err != nil {
			return err
		}
		return s.setHandle(ctx, tx, key, "")
	})
	if err != nil {
		return fmt.Errorf("store: reset %s: %w", key, err)
	}
	return nil
}

// EraseGuildHistory deletes every remembered turn of a guild (an admin's
// request) and the guild conversation's handle, which would otherwise
// resume the same context. Usage rows (no text) stay for accounting.
func (s *Store) EraseGuildHistory(ctx context.Context, guildID string) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, s.q("DELETE FROM history WHERE guild_id = ?"), guildID)
		if err != nil {
			return err
		}
		n, _ = r.RowsAffected()
		return s.setHandle(ctx, tx, "guild:"+guildID, "")
	})
	if err != nil {
		return 0, fmt.Errorf("store: erase history of guild %s: %w", guildID, err)
	}
	return n, nil
}

// PruneHistory deletes turns older than before (retention:
// LIVECORD_HISTORY_DAYS) and returns how many went.
func (s *Store) PruneHistory(ctx context.Context, before time.Time) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	r, err := s.db.ExecContext(ctx, s.q("DELETE FROM history WHERE at < ?"), ms(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune history: %w", err)
	}
	n, _ := r.RowsAffected()
	return n, nil
}
