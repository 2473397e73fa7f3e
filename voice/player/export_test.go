package player

import (
	"slices"
	"time"
)

// LatenessSamples returns the player's recent per-packet lateness (tests and
// benchmarks aggregate them across players).
func LatenessSamples(p *Player) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.stats.lateness)
}
