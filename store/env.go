package store

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // LIVECORD_BUDGET_TZ names work in images without /usr/share/zoneinfo
)

// EnvKeys are the environment keys ConfigFromEnv reads (README "State").
var EnvKeys = []string{
	"DATABASE_URL", "LIVECORD_HISTORY_DAYS", "LIVECORD_HISTORY_TOKENS", "LIVECORD_PRICES", "LIVECORD_BUDGET_TZ",
	"LIVECORD_GUILD_DAILY_TOKENS", "LIVECORD_GUILD_DAILY_COST", "LIVECORD_USER_DAILY_TOKENS", "LIVECORD_USER_DAILY_COST",
}

// Defaults of the settings ConfigFromEnv reads.
const (
	DefaultHistoryDays   = 30
	DefaultHistoryTokens = 4000
)

// ConfigFromEnv reads the store's keys through getenv (os.Getenv, or the
// bot's flag-aware lookup). DataDir and Logger are left to the caller. A
// bad value is an error naming the key and the accepted range.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{DatabaseURL: strings.TrimSpace(getenv("DATABASE_URL")),
		HistoryRetention: DefaultHistoryDays * 24 * time.Hour, HistoryTokens: DefaultHistoryTokens}
	if u := cfg.DatabaseURL; u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		return Config{}, fmt.Errorf("DATABASE_URL: want postgres://… or postgresql://… (empty: SQLite in the data directory)")
	}
	intKey := func(key string, lo, hi int64, dst *int64) error {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%s: %q is not a whole number from %d to %d", key, v, lo, hi)
		}
		*dst = n
		return nil
	}
	costKey := func(key string, dst *float64) error {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return nil
		}
		x, err := strconv.ParseFloat(strings.TrimPrefix(v, "$"), 64)
		if err != nil || x < 0 || x > 1e6 || math.IsNaN(x) {
			return fmt.Errorf("%s: %q is not a USD amount from 0 to 1000000", key, v)
		}
		*dst = x
		return nil
	}
	var days, histTokens int64 = DefaultHistoryDays, DefaultHistoryTokens
	for _, err := range []error{
		intKey("LIVECORD_HISTORY_DAYS", 0, 36500, &days),
		intKey("LIVECORD_HISTORY_TOKENS", 0, 1_000_000, &histTokens),
		intKey("LIVECORD_GUILD_DAILY_TOKENS", 0, math.MaxInt64, &cfg.GuildDaily.Tokens),
		intKey("LIVECORD_USER_DAILY_TOKENS", 0, math.MaxInt64, &cfg.UserDaily.Tokens),
		costKey("LIVECORD_GUILD_DAILY_COST", &cfg.GuildDaily.CostUSD),
		costKey("LIVECORD_USER_DAILY_COST", &cfg.UserDaily.CostUSD),
	} {
		if err != nil {
			return Config{}, err
		}
	}
	cfg.HistoryRetention = time.Duration(days) * 24 * time.Hour
	cfg.HistoryTokens = int(histTokens)
	prices, err := ParsePrices(getenv("LIVECORD_PRICES"), DefaultPrices())
	if err != nil {
		return Config{}, fmt.Errorf("LIVECORD_PRICES: %w", err)
	}
	cfg.Prices = prices
	if tz := strings.TrimSpace(getenv("LIVECORD_BUDGET_TZ")); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return Config{}, fmt.Errorf("LIVECORD_BUDGET_TZ: %q is not an IANA time zone (e.g. UTC, Europe/Paris): %w", tz, err)
		}
		cfg.Location = loc
	}
	return cfg, nil
}

// PruneExpired deletes history older than the configured retention (none
// when HistoryRetention is 0) and returns how many turns went.
func (s *Store) PruneExpired(ctx context.Context, now time.Time) (int64, error) {
	if s.cfg.HistoryRetention <= 0 {
		return 0, nil
	}
	return s.PruneHistory(ctx, now.Add(-s.cfg.HistoryRetention))
}

// RunRetention prunes expired history now and then every interval until
// ctx ends; the caller owns the goroutine it runs in. Failures go to the
// logger and the next round tries again.
func (s *Store) RunRetention(ctx context.Context, every time.Duration) {
	if s.cfg.HistoryRetention <= 0 {
		return
	}
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.PruneExpired(ctx, time.Now()); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("could not prune old history", "err", err)
		} else if n > 0 {
			s.log.Info("pruned old history", "turns", n, "older_than", s.cfg.HistoryRetention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// HistoryTokens is the budget for RecentHistory that the configuration
// asks for (LIVECORD_HISTORY_TOKENS).
func (s *Store) HistoryTokens() int { return s.cfg.HistoryTokens }
