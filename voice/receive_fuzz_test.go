package voice

import (
	"encoding/binary"
	"log/slog"
	"testing"
	"time"

	"github.com/livecord/livecord/voice/inbound"
	"github.com/livecord/livecord/voice/internal/wire"
)

// FuzzReceive feeds arbitrary datagrams through the whole receive path
// (transport AEAD, RTP header and extension, SSRC hold and replay, DAVE,
// jitter buffer, Opus decode, resampling) interleaved with op 5 mappings,
// op 13 leaves and ticks: it must never panic, and what it holds stays
// within its bounds.
//
//	go test -run '^$' -fuzz FuzzReceive -fuzztime 60s ./voice/
func FuzzReceive(f *testing.F) {
	var key wire.SecretKey
	for i := range key {
		key[i] = byte(i * 7)
	}
	opus := []byte{0x78, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07} // a CELT-only TOC and a little body
	seed := []byte{0x00}
	for i := range 8 {
		seed = append(seed, 1, byte(i%3), byte(i), 0, byte(len(opus)))
		seed = append(seed, opus...)
	}
	seed = append(seed, 2, 1, 3, 50, 1, 0x40, 9, 0, 3, 0xf8, 0xff, 0xfe, 0, 12, 0x80, 0x78, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 4, 1)
	f.Add(seed)
	f.Add(append([]byte{0x01}, seed[1:]...)) // with DAVE
	f.Add([]byte{0, 0, 4, 0x90, 0x78, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		ci, err := wire.NewCipher([]string{wire.ModeAES256GCM, wire.ModeXChaCha20Poly1305}[data[0]>>7], key)
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.DiscardHandler)
		c := &Conn{log: log, ssrcUsers: map[uint32]string{}, parked: map[uint32][]Frame{}, frames: make(chan Frame, 4),
			ears: newEars(inbound.Config{}, log), ownEars: true}
		if data[0]&1 == 1 {
			d, err := NewDAVE(1, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.cfg.E2EE = d
		}
		events := 0
		stop := c.ears.listen(func(e inbound.Event) {
			events++
			if len(e.PCM) > inbound.ChunkSamples {
				t.Fatalf("a chunk of %d samples", len(e.PCM))
			}
		})
		defer c.ears.close()
		now := time.Now() // the hold ages packets against the wall clock
		users := []string{"11", "12", "13", "not-a-snowflake"}
		var nonce uint32
		rest := data[1:]
		next := func() byte {
			if len(rest) == 0 {
				return 0
			}
			b := rest[0]
			rest = rest[1:]
			return b
		}
		take := func(n int) []byte {
			n = min(n, len(rest))
			b := rest[:n]
			rest = rest[n:]
			return b
		}
		for len(rest) > 0 {
			switch op := next(); op % 5 {
			case 0: // a raw datagram
				c.datagram(ci, take(int(next())), now)
			case 1: // a sealed packet: flags, ssrc, seq; payload
				flags, ssrc, seq := next(), uint32(next()%4), uint16(next())<<8|uint16(next())
				payload := take(int(next()))
				hdr := make([]byte, 12, 12+60+4)
				hdr[0], hdr[1] = 0x80|flags&0x0f, wire.PayloadTypeOpus
				binary.BigEndian.PutUint16(hdr[2:], seq)
				binary.BigEndian.PutUint32(hdr[4:], uint32(seq)*960)
				binary.BigEndian.PutUint32(hdr[8:], ssrc)
				hdr = append(hdr, make([]byte, 4*int(flags&0x0f))...)
				var pt []byte
				if flags&0x10 != 0 { // extension: its length word may lie
					hdr[0] |= 0x10
					hdr = append(hdr, 0xbe, 0xde, 0, flags>>5)
					pt = append(pt, make([]byte, 4*int(flags>>6))...)
				}
				pt = append(pt, payload...)
				if flags&0x20 != 0 {
					hdr[0] |= 0x20
					pt = append(pt, flags>>4) // a padding count that may exceed the payload
				}
				nonce++
				c.datagram(ci, ci.SealRaw(nil, hdr, pt, nonce), now)
			case 2: // op 5
				c.mapSSRC(uint32(next()%4), users[next()%4])
			case 3: // op 13
				c.ears.leave(users[next()%4], now)
			case 4: // time passes; the timer's tick
				now = now.Add(time.Duration(next()) * time.Millisecond)
				c.ears.mu.Lock()
				c.ears.evs = c.ears.rcv.Tick(c.ears.evs[:0], now)
				c.ears.emitLocked()
				c.ears.mu.Unlock()
			}
			if len(c.parked) > maxParkedSSRCs {
				t.Fatalf("%d SSRCs held", len(c.parked))
			}
			for ssrc, q := range c.parked {
				if len(q) > maxParked {
					t.Fatalf("%d packets held for SSRC %d", len(q), ssrc)
				}
			}
		}
		stop()
		st := c.ears.stats()
		if st.Inbound.Speakers > 64 || st.Datagrams < st.NotAudio+st.Undecryptable {
			t.Fatalf("stats out of bounds: %+v", st)
		}
	})
}
