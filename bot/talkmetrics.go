package bot

import "github.com/livecord/livecord/voice"

// Metrics of spoken conversations (talk.go).

func (m metrics) listening(delta float64) {
	if m.m != nil {
		m.m.ListeningChannels.Add(delta)
	}
}

// speechTurn counts a spoken exchange: "ok", "interrupted", "gated" or "error".
func (m metrics) speechTurn(outcome string) {
	if m.m != nil {
		m.m.SpeechTurns.WithLabelValues(outcome).Inc()
	}
}

// bargeIn counts a reply cut by speech: by "local" or "live".
func (m metrics) bargeIn(by string) {
	if m.m != nil {
		m.m.BargeIns.WithLabelValues(by).Inc()
	}
}

// received adds the receive path's counters from prev to now.
func (m metrics) received(prev, now voice.ReceiveStats) {
	if m.m == nil {
		return
	}
	add := func(what string, a, b uint64) {
		if b > a {
			m.m.Received.WithLabelValues(what).Add(float64(b - a))
		}
	}
	add("datagrams", prev.Datagrams, now.Datagrams)
	add("undecryptable", prev.Undecryptable, now.Undecryptable)
	add("e2ee_failed", prev.E2EEFailed, now.E2EEFailed)
	add("unknown_ssrc", prev.UnknownSSRC, now.UnknownSSRC)
	add("unmapped", prev.Unmapped, now.Unmapped)
	add("ignored", prev.Muted, now.Muted)
	add("decoded", prev.Inbound.Frames, now.Inbound.Frames)
	add("concealed", prev.Inbound.Concealed, now.Inbound.Concealed)
	add("late", prev.Inbound.Late, now.Inbound.Late)
	add("malformed", prev.Inbound.Malformed, now.Inbound.Malformed)
	add("rate_limited", prev.Inbound.RateLimited, now.Inbound.RateLimited)
	add("capped", prev.Inbound.CappedFrames, now.Inbound.CappedFrames)
}
