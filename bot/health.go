package bot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/livecord/livecord/live"
)

// How long a Live outcome answers /healthz before a fresh probe is made. A
// success is trusted longer than a failure, so recovery shows up quickly while
// a healthy bot does not open a Live connection on every health poll (each
// one counts against the key's concurrent-session quota).
const (
	liveHealthyFor   = 5 * time.Minute
	liveUnhealthyFor = 30 * time.Second
)

// liveHealth remembers how the latest Live connection attempt went.
type liveHealth struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// record notes a dial outcome. A cancelled context says nothing about Live.
func (h *liveHealth) record(err error) {
	if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		var le *live.Error
		if !errors.As(err, &le) {
			return
		}
	}
	h.mu.Lock()
	h.at, h.err = time.Now(), err
	h.mu.Unlock()
}

// fresh returns the remembered outcome when it is recent enough.
func (h *liveHealth) fresh() (err error, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.at.IsZero() {
		return nil, false
	}
	ttl := liveHealthyFor
	if h.err != nil {
		ttl = liveUnhealthyFor
	}
	return h.err, time.Since(h.at) < ttl
}

// CheckLive reports whether Gemini Live is reachable with the configured key
// and model: the outcome of the bot's latest Live connection, or of a probe
// (dial, setupComplete, close) when that outcome is stale. It is meant for
// /healthz; the error is in plain words and never holds the key.
func (b *Bot) CheckLive(ctx context.Context) error {
	err, ok := b.liveHealth.fresh()
	if !ok {
		cfg := b.cfg.Live
		cfg.Handle = ""
		var s *live.Session
		s, err = live.Dial(ctx, cfg)
		if err == nil {
			_ = s.Close()
		}
		b.liveHealth.record(err)
	}
	if err == nil {
		return nil
	}
	var le *live.Error
	if errors.As(err, &le) {
		return fmt.Errorf("%s (%s)", le.UserMessage(), le.Class)
	}
	return errors.New("live: the service could not be reached")
}
