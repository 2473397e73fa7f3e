package voice

import (
	"log/slog"
	"time"

	"github.com/livecord/livecord/voice/inbound"
	"github.com/livecord/livecord/voice/internal/wire"
)

// ChannelConn returns the Channel's current connection (nil when not
// connected), for tests that look at the wire.
func ChannelConn(c *Channel) *Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return nil
	}
	return c.cur.conn
}

// BareReceiver is a Conn's receive path without a network, for benchmarks:
// Datagram runs one datagram through it as the UDP reader would.
type BareReceiver struct {
	c  *Conn
	ci *wire.Cipher
}

// NewBareReceiver returns a receive path decrypting with ci and e2ee
// (nil: none), listening with fn.
func NewBareReceiver(ci *wire.Cipher, e2ee E2EE, cfg inbound.Config, fn func(inbound.Event)) *BareReceiver {
	log := slog.New(slog.DiscardHandler)
	c := &Conn{log: log, ssrcUsers: map[uint32]string{}, parked: map[uint32][]Frame{}, frames: make(chan Frame, 1),
		ears: newEars(cfg, log), ownEars: true}
	c.cfg.E2EE = e2ee
	c.ears.listen(fn)
	return &BareReceiver{c: c, ci: ci}
}

// Map is op 5.
func (r *BareReceiver) Map(ssrc uint32, user string) { r.c.mapSSRC(ssrc, user) }

// Datagram is one datagram read at arrival.
func (r *BareReceiver) Datagram(b []byte, arrival time.Time) { r.c.datagram(r.ci, b, arrival) }

// Stats are the counters.
func (r *BareReceiver) Stats() ReceiveStats { return r.c.ears.stats() }

// Close stops the listener's timer.
func (r *BareReceiver) Close() { r.c.ears.close() }
