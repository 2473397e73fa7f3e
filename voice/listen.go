package voice

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livecord/livecord/internal/tasks"
	"github.com/livecord/livecord/voice/inbound"
)

// Listening.
//
// Every datagram on the voice socket goes through the Conn's UDP reader:
// transport AEAD open (either rtpsize mode; the header extension body and
// padding are stripped), SSRC → user (op 5; packets of SSRCs op 5 has not
// named yet are held, at most maxParked per SSRC, maxParkedSSRCs SSRCs and
// maxParkAge, and replayed in order when it does: DAVE needs the sender
// before it can decrypt), the caller's ignore list, DAVE decryption per
// sender, then the per-speaker pipeline of package voice/inbound (jitter
// buffer, Opus decode with PLC/FEC, 48→16 kHz, onset, pauses). Its events
// reach the function given to Listen on the reader goroutine (and on a
// timer goroutine for pause and loss decisions), one call at a time.

// ReceiveStats counts what the receive path did, for metrics. Counters only
// grow; a Channel's survive its reconnects and moves.
type ReceiveStats struct {
	Datagrams     uint64 // UDP datagrams read on the voice socket
	NotAudio      uint64 // RTCP, keepalive echoes and other non-audio datagrams, ignored
	Undecryptable uint64 // malformed RTP or failed transport decryption, dropped
	E2EEFailed    uint64 // audio DAVE could not decrypt (no key yet, bad tag, replay), dropped
	UnknownSSRC   uint64 // packets held because op 5 had not named their SSRC's user yet
	Replayed      uint64 // held packets delivered once op 5 came
	Unmapped      uint64 // held packets dropped: no op 5 within the hold's age, or the hold was full
	Muted         uint64 // packets of users the caller ignores (Ignore), dropped before DAVE
	Unheard       uint64 // audio decrypted while no listener was registered (ReadFrame's)
	// Inbound is the per-speaker pipeline's counters: jitter buffer
	// (duplicates, late, concealed, FEC), Opus that does not decode
	// (Malformed), floods (RateLimited), capped turns, speakers refused.
	Inbound inbound.Stats
}

// Bounds of the hold for packets whose SSRC has no user yet. op 5 trails
// the first packet by a gateway round trip at most (tens of ms); a second
// is generous and bounds what a stream of made-up SSRCs can pin.
const (
	maxParked      = 50 // per SSRC: 1 s of 20 ms frames
	maxParkedSSRCs = 32
	maxParkAge     = time.Second
)

// idleTickEvery wakes the timer goroutine while speakers are tracked but
// no decision is pending, so idle speakers are forgotten (inbound's
// IdleTimeout) without a packet to prompt it.
const idleTickEvery = 10 * time.Second

// ears is the listening state a Channel shares with each of its
// connections (a Conn dialled directly has its own): the listener, the
// ignore list, the inbound.Receiver and the counters. It outlives
// connections, so a listener stays registered across resumes, new
// sessions, failovers and moves.
type ears struct {
	log *slog.Logger

	// mu orders calls into rcv and fn: a listener sees one event at a
	// time, each speaker's in order.
	mu    sync.Mutex
	fn    func(inbound.Event)
	gen   uint64 // bumped by every Listen, so a stale stop does nothing
	rcv   *inbound.Receiver
	evs   []inbound.Event
	armed time.Time // when the timer goroutine wakes next (zero: idle wait)

	listening atomic.Bool
	ignMu     sync.RWMutex
	ignored   map[string]bool

	datagrams, notAudio, undecryptable, e2eeFailed  atomic.Uint64
	unknownSSRC, replayed, unmapped, muted, unheard atomic.Uint64

	warned [warnKinds]atomic.Bool // each kind of bad input is logged once

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	tasks  tasks.Group
	once   sync.Once // starts the timer goroutine on the first Listen
}

func newEars(cfg inbound.Config, log *slog.Logger) *ears {
	e := &ears{log: log, rcv: inbound.New(cfg), ignored: map[string]bool{}, kick: make(chan struct{}, 1)}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e
}

// listen registers fn (replacing any listener; nil removes it) and
// returns its stop.
func (e *ears) listen(fn func(inbound.Event)) (stop func()) {
	if fn == nil {
		e.mu.Lock()
		e.gen++
		e.fn = nil
		e.listening.Store(false)
		e.evs = e.rcv.Close(e.evs[:0], time.Now())
		e.mu.Unlock()
		return func() {}
	}
	e.once.Do(func() { e.tasks.Go(e.timer) })
	e.mu.Lock()
	e.gen++
	gen := e.gen
	e.fn = fn
	e.listening.Store(true)
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.gen != gen {
			return
		}
		e.fn = nil
		e.listening.Store(false)
		// Turns in progress end unheard: the listener has gone.
		e.evs = e.rcv.Close(e.evs[:0], time.Now())
		clear(e.evs)
	}
}

// ignore adds userID to (or removes it from) the ignore list; ignoring ends
// the user's turn in progress (an End event with Reason inbound.Left).
func (e *ears) ignore(userID string, on bool) {
	e.ignMu.Lock()
	if on {
		e.ignored[userID] = true
	} else {
		delete(e.ignored, userID)
	}
	e.ignMu.Unlock()
	if on {
		e.leave(userID, time.Now())
	}
}

func (e *ears) ignoring(userID string) bool {
	e.ignMu.RLock()
	defer e.ignMu.RUnlock()
	return e.ignored[userID]
}

// hear runs one decrypted packet through the pipeline and hands its
// events to the listener.
func (e *ears) hear(p inbound.Packet) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fn == nil {
		e.unheard.Add(1)
		return
	}
	e.evs = e.rcv.Packet(e.evs[:0], p)
	e.emitLocked()
	if d := e.rcv.Deadline(); !d.IsZero() && (e.armed.IsZero() || d.Before(e.armed)) {
		e.armed = d // the timer goroutine must wake earlier than it planned
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
}

// leave ends userID's turn (op 13, or ignored from now on).
func (e *ears) leave(userID string, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = e.rcv.Leave(e.evs[:0], now, userID)
	e.emitLocked()
}

// closeTurns ends every turn: the connection that carried them has gone.
func (e *ears) closeTurns(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = e.rcv.Close(e.evs[:0], now)
	e.emitLocked()
}

func (e *ears) emitLocked() {
	if e.fn == nil {
		return
	}
	for _, ev := range e.evs {
		e.fn(ev)
	}
	clear(e.evs) // the PCM belongs to the listener now
}

// timer calls Tick when the Receiver has a loss or pause decision due.
func (e *ears) timer() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		e.mu.Lock()
		d := e.rcv.Deadline()
		if d.IsZero() {
			d = time.Now().Add(idleTickEvery)
		}
		e.armed = d
		e.mu.Unlock()
		t.Reset(max(time.Until(d), 0))
		select {
		case <-e.ctx.Done():
			return
		case <-e.kick:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case now := <-t.C:
			e.mu.Lock()
			e.evs = e.rcv.Tick(e.evs[:0], now)
			e.emitLocked()
			e.mu.Unlock()
		}
	}
}

// Kinds of bad input, each logged once per Channel (or Conn): the
// counters say how often.
const (
	warnUndecryptable = iota
	warnE2EE
	warnUnmapped
	warnKinds
)

// warnOnce logs the first bad input of a kind.
func (e *ears) warnOnce(kind int, msg string, args ...any) {
	if !e.warned[kind].Swap(true) {
		e.log.Warn(msg+" (logged once; ReceiveStats counts them)", args...)
	}
}

func (e *ears) stats() ReceiveStats {
	return ReceiveStats{
		Datagrams: e.datagrams.Load(), NotAudio: e.notAudio.Load(), Undecryptable: e.undecryptable.Load(),
		E2EEFailed: e.e2eeFailed.Load(), UnknownSSRC: e.unknownSSRC.Load(), Replayed: e.replayed.Load(),
		Unmapped: e.unmapped.Load(), Muted: e.muted.Load(), Unheard: e.unheard.Load(),
		Inbound: e.rcv.Stats(),
	}
}

// close stops the timer goroutine; the listener is not called again.
func (e *ears) close() {
	e.mu.Lock()
	e.fn = nil
	e.listening.Store(false)
	e.mu.Unlock()
	e.cancel()
	e.tasks.Close()
}

// Listen makes the connection hear the channel: every speaker's audio is
// decrypted, decoded and handed to fn as inbound events (Start, Audio in
// 20 ms chunks of 16 kHz mono, Onset, End), until stop is called or the
// Conn closes. A second Listen replaces the first listener.
//
// fn runs on the connection's receive goroutines (the UDP reader, the
// gateway reader replaying held packets and handling op 13, a timer for
// pause and loss decisions, and the caller of Ignore), one call at a time,
// and must return promptly (hand the audio to a channel or a buffer):
// while it runs, no other packet of the call is processed. It must not
// call Listen, its stop or Ignore (they wait for fn). Event.PCM is the
// listener's to keep.
// After stop returns fn is not called again; turns in progress end
// without an End event.
//
// While a listener is registered, ReadFrame returns nothing.
func (c *Conn) Listen(fn func(inbound.Event)) (stop func()) { return c.ears.listen(fn) }

// Ignore stops (ignore true) or resumes hearing userID: their packets are
// dropped before DAVE decryption, and a turn of theirs in progress ends at
// once (End, Reason inbound.Left). The voice gateway does not say who is a
// bot, deafened or server-muted (the main gateway's voice states do): the
// caller ignores those users. The list outlives reconnects.
func (c *Conn) Ignore(userID string, ignore bool) { c.ears.ignore(userID, ignore) }

// ReceiveStats returns the receive path's counters.
func (c *Conn) ReceiveStats() ReceiveStats { return c.ears.stats() }

// Listen is Conn.Listen for whichever connection the Channel has: the
// listener stays registered across reconnects (resume, a new session after
// 4006, a voice server failover) and joins, until stop or Close. Turns in
// progress when a connection ends end with Reason inbound.Closed.
func (c *Channel) Listen(fn func(inbound.Event)) (stop func()) { return c.ears.listen(fn) }

// Ignore is Conn.Ignore for the Channel's connections, now and later. The
// caller passes what the main gateway says: bots, and users who are
// self-deafened, server-deafened or server-muted, are not to be heard.
func (c *Channel) Ignore(userID string, ignore bool) { c.ears.ignore(userID, ignore) }

// ReceiveStats returns the receive path's counters across the Channel's connections.
func (c *Channel) ReceiveStats() ReceiveStats { return c.ears.stats() }
