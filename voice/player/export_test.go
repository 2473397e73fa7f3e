package player

import (
	"time"
)

// LatenessSamples returns the player's recent per-packet lateness (tests and
// benchmarks aggregate them across players).
func LatenessSamples(p *Player) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]time.Duration, len(p.stats.lateness))
	for i, u := range p.stats.lateness {
		out[i] = time.Duration(u) * latenessUnit
	}
	return out
}

// EncoderComplexity is the complexity libopus reports for p's encoder
// (0 while it has none: an idle player).
func EncoderComplexity(p *Player) int {
	p.encMu.Lock()
	defer p.encMu.Unlock()
	if p.enc == nil {
		return 0
	}
	return p.enc.complexity()
}

// EncodeAhead is the scheduler's window in slots.
const EncodeAhead = encodeAhead

// Queued returns how many frames p has queued and how many of them are
// already encoded.
func Queued(p *Player) (queued, encoded int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.q) - p.head, p.encNext - p.head
}
