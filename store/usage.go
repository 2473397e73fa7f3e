package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Tokens is a turn's usage split by modality, as Live's usageMetadata
// reports it (promptTokensDetails / responseTokensDetails).
type Tokens struct {
	PromptText, PromptAudio int64
	// PromptOther is image, video and document input.
	PromptOther                 int64
	ResponseText, ResponseAudio int64
	// Thoughts is the model's thinking, billed as text output.
	Thoughts int64
}

// Total is every token of the turn.
func (t Tokens) Total() int64 {
	return t.PromptText + t.PromptAudio + t.PromptOther + t.ResponseText + t.ResponseAudio + t.Thoughts
}

// ModalityCount is one entry of a usageMetadata details list.
type ModalityCount struct {
	Modality string // "TEXT", "AUDIO", "IMAGE", "VIDEO", "DOCUMENT"
	Count    int
}

// TokensFromUsage splits usageMetadata's counts by modality. Tokens the
// details leave uncovered (the service reports a few: framing, the
// system instruction) count as text, so the totals always match
// promptTokenCount and responseTokenCount.
func TokensFromUsage(promptTotal, responseTotal, thoughts int, prompt, response []ModalityCount) Tokens {
	var t Tokens
	var pc, rc int64
	for _, d := range prompt {
		n := int64(max(d.Count, 0))
		switch strings.ToUpper(d.Modality) {
		case "TEXT":
			t.PromptText += n
		case "AUDIO":
			t.PromptAudio += n
		default:
			t.PromptOther += n
		}
		pc += n
	}
	for _, d := range response {
		n := int64(max(d.Count, 0))
		if strings.ToUpper(d.Modality) == "AUDIO" {
			t.ResponseAudio += n
		} else {
			t.ResponseText += n
		}
		rc += n
	}
	if rest := int64(promptTotal) - pc; rest > 0 {
		t.PromptText += rest
	}
	if rest := int64(responseTotal) - rc; rest > 0 {
		t.ResponseText += rest
	}
	t.Thoughts = int64(max(thoughts, 0))
	return t
}

// Price is USD per million tokens.
type Price struct {
	// TextIn is text input; AudioIn is audio, image and video input.
	TextIn, AudioIn float64
	// TextOut is text output and thinking; AudioOut is audio output.
	TextOut, AudioOut float64
}

// Prices maps a model id to its price; the entry "*" prices any model not
// listed.
type Prices map[string]Price

// DefaultPrices is the Gemini Developer API's paid-tier price list for the
// Live models, USD per 1M tokens, as published on
// https://ai.google.dev/gemini-api/docs/pricing (read 2026-12). Prices change:
// override or extend them with LIVECORD_PRICES (see ParsePrices), e.g.
// LIVECORD_PRICES="gemini-3.8-live=0.75/3/4.5/12". Unknown models are priced
// as "*" (the default model's rates).
//
// Provenance of each row: gemini-3.8-live's text rates ($0.75 in, $4.50 out)
// match the public listings seen; its audio rates are taken to equal
// gemini-3.1-flash-live-preview's (audio in $3.00, audio out $12.00) and
// should be checked against the pricing page. gemini-2.5-flash-native-audio
// and gemini-2.0-flash-live rows are their published rates.
func DefaultPrices() Prices {
	live38 := Price{TextIn: 0.75, AudioIn: 3.00, TextOut: 4.50, AudioOut: 12.00}
	return Prices{
		"*":                             live38,
		"gemini-3.8-live":               live38,
		"gemini-3.1-flash-live-preview": {TextIn: 0.75, AudioIn: 3.00, TextOut: 4.50, AudioOut: 12.00},
		"gemini-2.5-flash-native-audio": {TextIn: 0.50, AudioIn: 3.00, TextOut: 2.00, AudioOut: 12.00},
		"gemini-live-2.5-flash-preview": {TextIn: 0.50, AudioIn: 3.00, TextOut: 2.00, AudioOut: 12.00},
		"gemini-2.0-flash-live-001":     {TextIn: 0.35, AudioIn: 2.10, TextOut: 1.50, AudioOut: 8.50},
	}
}

// ParsePrices reads LIVECORD_PRICES: entries "model=textIn/audioIn/textOut/audioOut"
// (USD per 1M tokens) separated by ";" or ",", laid over base (the defaults).
func ParsePrices(spec string, base Prices) (Prices, error) {
	out := Prices{}
	for k, v := range base {
		out[k] = v
	}
	for _, e := range strings.FieldsFunc(spec, func(r rune) bool { return r == ';' || r == ',' }) {
		model, rates, ok := strings.Cut(strings.TrimSpace(e), "=")
		f := strings.Split(rates, "/")
		if !ok || strings.TrimSpace(model) == "" || len(f) != 4 {
			return nil, fmt.Errorf("store: price %q: want model=textIn/audioIn/textOut/audioOut (USD per 1M tokens)", e)
		}
		var v [4]float64
		for i, s := range f {
			x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || x < 0 || math.IsInf(x, 0) || math.IsNaN(x) {
				return nil, fmt.Errorf("store: price %q: %q is not a non-negative number", e, s)
			}
			v[i] = x
		}
		out[strings.TrimPrefix(strings.TrimSpace(model), "models/")] = Price{TextIn: v[0], AudioIn: v[1], TextOut: v[2], AudioOut: v[3]}
	}
	return out, nil
}

// For returns the price of model (without or with "models/").
func (p Prices) For(model string) Price {
	if pr, ok := p[strings.TrimPrefix(model, "models/")]; ok {
		return pr
	}
	return p["*"]
}

// CostMicros is the estimated cost of t in millionths of a USD (a token at
// $X per million costs X micro-USD).
func (p Prices) CostMicros(model string, t Tokens) int64 {
	pr := p.For(model)
	c := float64(t.PromptText)*pr.TextIn + float64(t.PromptAudio+t.PromptOther)*pr.AudioIn +
		float64(t.ResponseText+t.Thoughts)*pr.TextOut + float64(t.ResponseAudio)*pr.AudioOut
	return int64(math.Round(c))
}

// Decision is a budget check's answer.
type Decision struct {
	Allowed bool
	// Scope ("guild" or "user") and Measure ("tokens" or "cost") name the
	// budget that denied; Used and Limit are in its unit (tokens or USD).
	Scope, Measure string
	Used, Limit    float64
	// ResetAt is when the current budget day ends (the next midnight in the
	// configured time zone).
	ResetAt time.Time
}

// DayStart is the start of now's budget day in the configured time zone.
func (s *Store) DayStart(now time.Time) time.Time {
	y, m, d := now.In(s.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, s.loc)
}

func (s *Store) monthStart(now time.Time) time.Time {
	y, m, _ := now.In(s.loc).Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, s.loc)
}

// Check says whether a user may start a turn in a guild (guildID "" in a
// DM) under the daily budgets: the guild's, then the user's. It reads the
// shared usage rows, so shards on one PostgreSQL judge the same totals. A
// turn that starts under budget may end over it; the next is denied.
func (s *Store) Check(ctx context.Context, guildID, userID string, now time.Time) (Decision, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	day := s.DayStart(now)
	dec := Decision{Allowed: true, ResetAt: day.AddDate(0, 0, 1)}
	guildB, userB := s.cfg.GuildDaily, s.cfg.UserDaily
	if guildID != "" {
		st, err := s.Settings(ctx, "guild:"+guildID)
		if err != nil {
			return Decision{}, err
		}
		if st.GuildBudget != nil {
			guildB = *st.GuildBudget
		}
		if st.UserBudget != nil {
			userB = *st.UserBudget
		}
	}
	type check struct {
		scope string
		b     Budget
		where string
		arg   string
	}
	checks := []check{{"guild", guildB, "guild_id = ?", guildID}, {"user", userB, "user_id = ?", userID}}
	if guildID == "" {
		checks = checks[1:]
	}
	for _, c := range checks {
		if c.b.isZero() {
			continue
		}
		var tokens, cost sql.NullInt64
		if err := s.db.QueryRowContext(ctx, s.q("SELECT SUM(total), SUM(cost_micros) FROM usage_turns WHERE "+c.where+" AND at >= ?"),
			c.arg, ms(day)).Scan(&tokens, &cost); err != nil {
			return Decision{}, fmt.Errorf("store: budget of %s %s: %w", c.scope, c.arg, err)
		}
		if c.b.Tokens > 0 && tokens.Int64 >= c.b.Tokens {
			dec.Allowed, dec.Scope, dec.Measure = false, c.scope, "tokens"
			dec.Used, dec.Limit = float64(tokens.Int64), float64(c.b.Tokens)
			return dec, nil
		}
		if c.b.CostUSD > 0 && cost.Int64 >= costMicros(c.b.CostUSD) {
			dec.Allowed, dec.Scope, dec.Measure = false, c.scope, "cost"
			dec.Used, dec.Limit = float64(cost.Int64)/1e6, c.b.CostUSD
			return dec, nil
		}
	}
	return dec, nil
}

// Totals sums usage over a period.
type Totals struct {
	Turns   int64
	Tokens  Tokens
	CostUSD float64
}

// UserTotals is one user's share.
type UserTotals struct {
	UserID, UserName string
	Totals
}

// Report is what /usage shows for a guild.
type Report struct {
	DayStart, MonthStart time.Time
	Today, Month         Totals
	// TopUsers are this month's biggest users by tokens, largest first.
	TopUsers []UserTotals
}

const sumCols = "COUNT(*), SUM(prompt_text), SUM(prompt_audio), SUM(prompt_other), SUM(response_text), SUM(response_audio), SUM(thoughts), SUM(cost_micros)"

func scanTotals(row interface{ Scan(...any) error }, extra ...any) (Totals, error) {
	var t Totals
	var v [7]sql.NullInt64
	dst := append(extra, &t.Turns, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6])
	if err := row.Scan(dst...); err != nil {
		return Totals{}, err
	}
	t.Tokens = Tokens{PromptText: v[0].Int64, PromptAudio: v[1].Int64, PromptOther: v[2].Int64,
		ResponseText: v[3].Int64, ResponseAudio: v[4].Int64, Thoughts: v[5].Int64}
	t.CostUSD = float64(v[6].Int64) / 1e6
	return t, nil
}

// UsageReport sums a guild's usage today and this month, with the month's
// topN users.
func (s *Store) UsageReport(ctx context.Context, guildID string, now time.Time, topN int) (Report, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	r := Report{DayStart: s.DayStart(now), MonthStart: s.monthStart(now)}
	var err error
	wrap := func(err error) error { return fmt.Errorf("store: usage of guild %s: %w", guildID, err) }
	q := s.q("SELECT " + sumCols + " FROM usage_turns WHERE guild_id = ? AND at >= ?")
	if r.Today, err = scanTotals(s.db.QueryRowContext(ctx, q, guildID, ms(r.DayStart))); err != nil {
		return Report{}, wrap(err)
	}
	if r.Month, err = scanTotals(s.db.QueryRowContext(ctx, q, guildID, ms(r.MonthStart))); err != nil {
		return Report{}, wrap(err)
	}
	if topN <= 0 {
		return r, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q("SELECT user_id, MAX(user_name), "+sumCols+` FROM usage_turns
	WHERE guild_id = ? AND at >= ? GROUP BY user_id ORDER BY SUM(total) DESC, user_id LIMIT ?`), guildID, ms(r.MonthStart), topN)
	if err != nil {
		return Report{}, wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var u UserTotals
		if u.Totals, err = scanTotals(rows, &u.UserID, &u.UserName); err != nil {
			return Report{}, wrap(err)
		}
		r.TopUsers = append(r.TopUsers, u)
	}
	if err := rows.Err(); err != nil {
		return Report{}, wrap(err)
	}
	return r, nil
}
