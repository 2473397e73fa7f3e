package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// Settings are one conversation's choices ("guild:ID" or "dm:ID"). The
// zero value means "use the bot's defaults" throughout.
type Settings struct {
	Voice             string
	Language          string
	SystemInstruction string
	// GuildBudget and UserBudget override the configured daily budgets for
	// this guild and for each of its members; nil inherits the default.
	GuildBudget, UserBudget *Budget
	// UpdatedAt is when the row last changed (zero if it never existed).
	UpdatedAt time.Time
}

// Budget is a daily allowance. A zero field sets no limit on that measure;
// with both set, whichever is reached first denies.
type Budget struct {
	Tokens  int64
	CostUSD float64
}

func (b Budget) isZero() bool { return b.Tokens <= 0 && b.CostUSD <= 0 }

func costMicros(usd float64) int64 { return int64(math.Round(usd * 1e6)) }

func nullBudget(b *Budget) (tokens, cost sql.NullInt64) {
	if b == nil {
		return
	}
	return sql.NullInt64{Int64: b.Tokens, Valid: true}, sql.NullInt64{Int64: costMicros(b.CostUSD), Valid: true}
}

func budgetOf(tokens, cost sql.NullInt64) *Budget {
	if !tokens.Valid && !cost.Valid {
		return nil
	}
	return &Budget{Tokens: tokens.Int64, CostUSD: float64(cost.Int64) / 1e6}
}

const settingsCols = "voice, language, system_instruction, guild_daily_tokens, guild_daily_cost_micros, user_daily_tokens, user_daily_cost_micros, updated_at"

func scanSettings(row interface{ Scan(...any) error }) (Settings, error) {
	var st Settings
	var gt, gc, ut, uc sql.NullInt64
	var at int64
	if err := row.Scan(&st.Voice, &st.Language, &st.SystemInstruction, &gt, &gc, &ut, &uc, &at); err != nil {
		return Settings{}, err
	}
	st.GuildBudget, st.UserBudget = budgetOf(gt, gc), budgetOf(ut, uc)
	st.UpdatedAt = fromMS(at)
	return st, nil
}

// Settings returns a conversation's settings (the zero Settings if none
// were ever saved).
func (s *Store) Settings(ctx context.Context, key string) (Settings, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	st, err := scanSettings(s.db.QueryRowContext(ctx, s.q("SELECT "+settingsCols+" FROM settings WHERE conv_key = ?"), key))
	if errors.Is(err, sql.ErrNoRows) {
		return Settings{}, nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("store: read settings of %s: %w", key, err)
	}
	return st, nil
}

// UpdateSettings applies fn to a conversation's settings and saves the
// result, in one transaction: a concurrent update from another shard is
// neither lost nor half-applied. When fn or the save fails, nothing
// changes. It returns the saved settings.
func (s *Store) UpdateSettings(ctx context.Context, key string, fn func(*Settings)) (Settings, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var out Settings
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := ms(time.Now())
		if _, err := tx.ExecContext(ctx, s.q("INSERT INTO settings (conv_key, updated_at) VALUES (?, ?) ON CONFLICT (conv_key) DO NOTHING"), key, now); err != nil {
			return err
		}
		lock := ""
		if s.engine == Postgres {
			lock = " FOR UPDATE" // SQLite's immediate transaction already holds the write lock
		}
		st, err := scanSettings(tx.QueryRowContext(ctx, s.q("SELECT "+settingsCols+" FROM settings WHERE conv_key = ?"+lock), key))
		if err != nil {
			return err
		}
		fn(&st)
		gt, gc := nullBudget(st.GuildBudget)
		ut, uc := nullBudget(st.UserBudget)
		st.UpdatedAt = fromMS(now)
		_, err = tx.ExecContext(ctx, s.q(`UPDATE settings SET voice = ?, language = ?, system_instruction = ?,
	guild_daily_tokens = ?, guild_daily_cost_micros = ?, user_daily_tokens = ?, user_daily_cost_micros = ?, updated_at = ?
	WHERE conv_key = ?`), st.Voice, st.Language, st.SystemInstruction, gt, gc, ut, uc, now, key)
		out = st
		return err
	})
	if err != nil {
		return Settings{}, fmt.Errorf("store: save settings of %s: %w", key, err)
	}
	return out, nil
}

// Handle returns a conversation's latest Live resumption handle ("" if none).
func (s *Store) Handle(ctx context.Context, key string) (string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.getString(ctx, "SELECT handle FROM handles WHERE conv_key = ?", key, "handle")
}

// SetHandle stores a conversation's resumption handle; "" forgets it.
func (s *Store) SetHandle(ctx context.Context, key, handle string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.setHandle(ctx, s.db, key, handle); err != nil {
		return fmt.Errorf("store: save handle of %s: %w", key, err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) setHandle(ctx context.Context, db execer, key, handle string) error {
	if handle == "" {
		_, err := db.ExecContext(ctx, s.q("DELETE FROM handles WHERE conv_key = ?"), key)
		return err
	}
	_, err := db.ExecContext(ctx, s.q(`INSERT INTO handles (conv_key, handle, updated_at) VALUES (?, ?, ?)
	ON CONFLICT (conv_key) DO UPDATE SET handle = excluded.handle, updated_at = excluded.updated_at`), key, handle, ms(time.Now()))
	return err
}

// CommandsHash returns the hash of the command definitions last registered
// in scope ("global" or "guild:ID"), "" if none.
func (s *Store) CommandsHash(ctx context.Context, scope string) (string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.getString(ctx, "SELECT hash FROM commands WHERE scope = ?", scope, "commands hash")
}

// SetCommandsHash records the hash of the definitions registered in scope.
func (s *Store) SetCommandsHash(ctx context.Context, scope, hash string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO commands (scope, hash, updated_at) VALUES (?, ?, ?)
	ON CONFLICT (scope) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`), scope, hash, ms(time.Now()))
	if err != nil {
		return fmt.Errorf("store: save commands hash of %s: %w", scope, err)
	}
	return nil
}

func (s *Store) getString(ctx context.Context, query, arg, what string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.q(query), arg).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: read %s of %s: %w", what, arg, err)
	}
	return v, nil
}
