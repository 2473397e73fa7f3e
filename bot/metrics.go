package bot

import (
	"errors"
	"time"

	"github.com/livecord/livecord/admin"
	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/store"
)

// metrics updates the optional admin.Metrics; every method is a no-op
// without them.
type metrics struct{ m *admin.Metrics }

func (m metrics) deferred(d time.Duration) {
	if m.m != nil {
		m.m.DeferLatency.Observe(d.Seconds())
	}
}

func (m metrics) firstAudio(d time.Duration) {
	if m.m != nil {
		m.m.FirstAudioLatency.Observe(d.Seconds())
	}
}

// turn records a finished turn: outcome is "ok", "error", "interrupted" or
// "cancelled".
func (m metrics) turn(outcome string, took, audio time.Duration) {
	if m.m == nil {
		return
	}
	m.m.Turns.WithLabelValues(outcome).Inc()
	m.m.TurnDuration.Observe(took.Seconds())
	if audio > 0 {
		m.m.ReplyAudio.Observe(audio.Seconds())
	}
}

// failed counts an error by class: a Live error class, "discord" or "voice".
func (m metrics) failed(class string) {
	if m.m != nil {
		m.m.Errors.WithLabelValues(class).Inc()
	}
}

// liveFailed counts a Live failure by its class.
func (m metrics) liveFailed(err error) {
	var le *live.Error
	if errors.As(err, &le) {
		m.failed(le.Class.String())
		return
	}
	m.failed("live")
}

func (m metrics) liveSessions(delta float64) {
	if m.m != nil {
		m.m.LiveSessions.Add(delta)
	}
}

func (m metrics) voiceConnections(delta float64) {
	if m.m != nil {
		m.m.VoiceConnections.Add(delta)
	}
}

func (m metrics) conversations(delta float64) {
	if m.m != nil {
		m.m.Conversations.Add(delta)
	}
}

func (m metrics) queued(delta float64) {
	if m.m != nil {
		m.m.QueuedTurns.Add(delta)
	}
}

// firstPacket is the voice Channel's first-packet hook: a turn's first PCM
// handed to the player → its first audio packet sent.
func (m metrics) firstPacket(d time.Duration) {
	if m.m != nil {
		m.m.FirstPacketLatency.Observe(d.Seconds())
	}
}

// tokens counts a recorded turn's tokens by model and modality.
func (m metrics) tokens(model string, t store.Tokens) {
	if m.m == nil {
		return
	}
	for _, x := range []struct {
		dir, modality string
		n             int64
	}{{"prompt", "text", t.PromptText}, {"prompt", "audio", t.PromptAudio}, {"prompt", "other", t.PromptOther},
		{"response", "text", t.ResponseText}, {"response", "audio", t.ResponseAudio}, {"response", "thoughts", t.Thoughts}} {
		if x.n > 0 {
			m.m.Tokens.WithLabelValues(model, x.dir, x.modality).Add(float64(x.n))
		}
	}
}
