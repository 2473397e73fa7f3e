package voice

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/livecord/livecord/voice/inbound"
	"github.com/livecord/livecord/voice/internal/wire"
)

// receive reads the link's datagrams until it closes.
func (c *Conn) receive(ctx context.Context, link *udpLink, ci *wire.Cipher) {
	buf := make([]byte, 2048)
	for {
		n, err := link.conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. an ICMP refusal reported on a connected socket
		}
		c.datagram(ci, buf[:n], time.Now())
	}
}

// datagram handles one datagram read at arrival: never panics, whatever b
// holds, and keeps nothing of b.
func (c *Conn) datagram(ci *wire.Cipher, b []byte, arrival time.Time) {
	e := c.ears
	e.datagrams.Add(1)
	if !wire.IsOpusRTP(b) {
		e.notAudio.Add(1) // keepalive echoes, RTCP
		return
	}
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	p, out, err := ci.Open(c.openBuf[:0], b)
	c.openBuf = out
	if err != nil {
		e.undecryptable.Add(1)
		e.warnOnce(warnUndecryptable, "voice udp: undecryptable packet dropped", "err", err)
		return
	}
	f := Frame{SSRC: p.Header.SSRC, Sequence: p.Header.SequenceNumber, Timestamp: p.Header.Timestamp, Opus: p.Payload, Arrival: arrival}
	if user, ok := c.ssrcUsers[f.SSRC]; ok {
		c.deliver(f, user)
		return
	}
	c.parkLocked(f)
}

// parkLocked holds f until op 5 names its SSRC's user, within the hold's
// bounds (maxParked, maxParkedSSRCs, maxParkAge).
func (c *Conn) parkLocked(f Frame) {
	e := c.ears
	e.unknownSSRC.Add(1)
	q, ok := c.parked[f.SSRC]
	if !ok && len(c.parked) >= maxParkedSSRCs {
		c.expireParkedLocked(f.Arrival)
	}
	if !ok && len(c.parked) >= maxParkedSSRCs || len(q) >= maxParked {
		e.unmapped.Add(1)
		e.warnOnce(warnUnmapped, "voice udp: packets of an SSRC no op 5 named dropped", "ssrc", f.SSRC)
		return
	}
	f.Opus = append([]byte(nil), f.Opus...)
	c.parked[f.SSRC] = append(q, f)
}

// expireParkedLocked drops held frames older than maxParkAge.
func (c *Conn) expireParkedLocked(now time.Time) {
	for ssrc, q := range c.parked {
		i := 0
		for i < len(q) && now.Sub(q[i].Arrival) > maxParkAge {
			i++
		}
		c.ears.unmapped.Add(uint64(i))
		if i == len(q) {
			delete(c.parked, ssrc)
		} else if i > 0 {
			c.parked[ssrc] = q[i:]
		}
	}
}

// mapSSRC records op 5's SSRC → user and replays what was held for it.
func (c *Conn) mapSSRC(ssrc uint32, user string) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	c.ssrcUsers[ssrc] = user
	q := c.parked[ssrc]
	delete(c.parked, ssrc)
	now := time.Now()
	for _, f := range q {
		if now.Sub(f.Arrival) > maxParkAge {
			c.ears.unmapped.Add(1)
			continue
		}
		c.ears.replayed.Add(1)
		c.deliver(f, user)
	}
}

// deliver E2EE-decrypts f as user's and hands it to the listener (or queues
// it for ReadFrame when there is none). Called with recvMu held, so frames
// of one SSRC keep their order.
func (c *Conn) deliver(f Frame, user string) {
	e := c.ears
	if e.ignoring(user) {
		e.muted.Add(1)
		return
	}
	f.UserID = user
	listening := e.listening.Load()
	if d := c.cfg.E2EE; d != nil {
		var err error
		var dst []byte
		if listening {
			dst = c.daveBuf[:0]
		}
		if f.Opus, err = d.DecryptOpus(dst, user, f.Opus); err != nil {
			e.e2eeFailed.Add(1)
			e.warnOnce(warnE2EE, "voice e2ee: undecryptable frame dropped", "ssrc", f.SSRC, "user", user, "err", err)
			return
		}
		if listening {
			c.daveBuf = f.Opus
		}
	}
	if listening {
		e.hear(inbound.Packet{SSRC: f.SSRC, UserID: user, Sequence: f.Sequence, Timestamp: f.Timestamp, Opus: f.Opus, Arrival: f.Arrival})
		return
	}
	e.unheard.Add(1)
	if c.cfg.E2EE == nil {
		f.Opus = append([]byte(nil), f.Opus...)
	}
	select {
	case c.frames <- f:
	default:
		c.dropped.Add(1)
	}
}
