package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/store"
)

// storeError marks a failure of the state database, so the asker is told
// that (and not that Gemini failed).
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// storeDownText is what a user sees when the database does not answer.
const storeDownText = "The bot's database isn't answering right now, so I couldn't do that. Please try again in a minute."

// stateCtx bounds a state call made outside any turn (the store's
// OpTimeout bounds each call too; this one also survives shutdown, so a
// handle kept while closing is still written).
func stateCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 20*time.Second)
}

// voiceFor returns the conversation's voice: its setting, else the default.
func (b *Bot) voiceFor(ctx context.Context, key string) (string, error) {
	st, err := b.st.Settings(ctx, key)
	if err != nil {
		return "", &storeError{err}
	}
	if st.Voice != "" {
		return st.Voice, nil
	}
	return b.cfg.Live.Voice, nil
}

// saveHandle keeps a conversation's resumption handle ("" forgets it);
// a failure is logged: the next turn then resumes from an older handle, or
// from history.
func (b *Bot) saveHandle(key, handle string) {
	ctx, cancel := stateCtx()
	defer cancel()
	if err := b.st.SetHandle(ctx, key, handle); err != nil {
		b.log.Warn("could not save the resumption handle", "conversation", key, "err", err)
	}
}

// displayName is the name the asker goes by here: their server nickname,
// else their global display name, else their username.
func displayName(ia *discordgo.Interaction) string {
	if ia.Member != nil && ia.Member.Nick != "" {
		return ia.Member.Nick
	}
	u := userOf(ia)
	if u.GlobalName != "" {
		return u.GlobalName
	}
	return u.Username
}

// model is the Live model id turns are recorded (and priced) under.
func (b *Bot) model() string {
	if m := strings.TrimPrefix(b.cfg.Live.Model, "models/"); m != "" {
		return m
	}
	return live.DefaultModel
}

// budgetDenied checks the daily budgets before a turn: "" when the turn may
// run, else the plain message for the asker.
func (b *Bot) budgetDenied(ctx context.Context, guildID, userID string) (string, error) {
	dec, err := b.st.Check(ctx, guildID, userID, time.Now())
	if err != nil {
		return "", &storeError{err}
	}
	if dec.Allowed {
		return "", nil
	}
	return budgetText(dec), nil
}

// budgetText says which budget is spent and when it resets, in the
// reader's own time zone (Discord renders <t:…> timestamps locally).
func budgetText(dec store.Decision) string {
	who := "You have"
	if dec.Scope == "guild" {
		who = "This server has"
	}
	used := fmt.Sprintf("%s of %s tokens", thousands(int64(dec.Used)), thousands(int64(dec.Limit)))
	if dec.Measure == "cost" {
		used = fmt.Sprintf("$%.2f of $%.2f", dec.Used, dec.Limit)
	}
	ts := dec.ResetAt.Unix()
	return fmt.Sprintf("%s used today's Gemini budget (%s), so this question wasn't sent. It resets <t:%d:R> (<t:%d:f>).",
		who, used, ts, ts)
}

// thousands writes n with comma separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// tokensOf splits Live's usage by modality for the store.
func tokensOf(u live.Usage) store.Tokens {
	conv := func(d []live.ModalityTokens) []store.ModalityCount {
		out := make([]store.ModalityCount, len(d))
		for i, m := range d {
			out[i] = store.ModalityCount{Modality: m.Modality, Count: m.Tokens}
		}
		return out
	}
	return store.TokensFromUsage(u.PromptTokens, u.ResponseTokens, u.ThoughtsTokens,
		conv(u.PromptDetails), conv(u.ResponseDetails))
}

// isStoreError reports whether err is the database's.
func isStoreError(err error) bool {
	var se *storeError
	return errors.As(err, &se)
}
