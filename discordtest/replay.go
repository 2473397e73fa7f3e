package discordtest

import (
	"errors"
	"time"
)

// Replay dispatches the interaction's INTERACTION_CREATE again, byte for
// byte (same id and token), as Discord does after a gateway resume or to a
// second process logged in with the same token. The callback window starts
// again from the replay; an interaction already acknowledged answers a
// second acknowledgement with 40060, as Discord does.
func (ia *Interaction) Replay() error {
	ia.s.mu.Lock()
	ia.Dispatched = time.Now()
	ia.s.mu.Unlock()
	if ia.s.broadcast("INTERACTION_CREATE", ia.GuildID, ia.Payload, intentAny) == 0 {
		return errors.New("discordtest: no bot is connected to the gateway")
	}
	return nil
}
