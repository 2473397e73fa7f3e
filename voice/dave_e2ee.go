package voice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livecord/livecord/voice/internal/wire"

	"github.com/livecord/livecord/voice/dave"
	"github.com/livecord/livecord/voice/mls"
)

// decryptFailureTolerance is how many frames in a row may fail to decrypt,
// outside transitions, before the connection flags its last transition as
// invalid (op 31) and rejoins the group: discord.js's default, so a member
// that silently fell out of step with the group recovers the same way.
const decryptFailureTolerance = 36

// pendingTransitionLimit is how long an acknowledged transition suspends the
// failure count while its op 22 is awaited (the session's own fallback
// executes after 5 s; receivers keep old keys 10 s).
const pendingTransitionLimit = 10 * time.Second

// DAVE is the E2EE layer for DAVE protocol version 1 (package voice/dave):
// it answers the voice server's DAVE ops, encrypts outgoing Opus frames with
// the group's key once the first transition has executed, and decrypts
// received frames per sender. One DAVE serves one Conn.
type DAVE struct {
	userID, channelID uint64
	key               *mls.SigningKey // reused across sessions, as libdave does per process
	log               *slog.Logger
	users             *dave.Users // announced users: per connection, across sessions (op 4)

	sess atomic.Pointer[dave.Session] // replaced on each new voice session (op 4)

	// sendMu orders what goes back to the gateway: the reader's replies and
	// the receive path's recovery (op 31 + op 26) never interleave.
	sendMu sync.Mutex
	w      GatewayWriter   // the Conn, remembered for recovery from the receive path
	wctx   context.Context // the gateway session that w belongs to

	mu         sync.Mutex
	changed    chan struct{}     // closed and replaced after every handled message
	lastTID    int               // last executed transition (DJS lastTransitionId), 0 when none
	pendingTID map[int]time.Time // acknowledged (op 23) at, awaiting op 22
	failures   int               // consecutive decrypt failures outside transitions

	watchdog      *time.Timer   // runs the session's welcome watchdog; sendMu
	onNotWelcomed func()        // see OnNotWelcomed; mu
	welcomeWait   time.Duration // see SetWelcomeTimeout; mu
}

// NewDAVE returns the DAVE layer for a connection of the bot (userID) to the
// voice channel channelID, whose ID is the MLS group ID. logger may be nil.
func NewDAVE(userID, channelID uint64, logger *slog.Logger) (*DAVE, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	key, err := mls.GenerateSignatureKey()
	if err != nil {
		return nil, fmt.Errorf("voice: dave: %w", err)
	}
	d := &DAVE{userID: userID, channelID: channelID, key: key, log: logger, users: dave.NewUsers(), pendingTID: map[int]time.Time{}, changed: make(chan struct{})}
	s, err := d.newSession()
	if err != nil {
		return nil, err
	}
	d.sess.Store(s)
	return d, nil
}

func (d *DAVE) newSession() (*dave.Session, error) {
	d.mu.Lock()
	wait := d.welcomeWait
	d.mu.Unlock()
	s, err := dave.NewSession(dave.Config{UserID: d.userID, ChannelID: d.channelID, SigningKey: d.key, Users: d.users, WelcomeTimeout: wait})
	if err != nil {
		return nil, fmt.Errorf("voice: dave: %w", err)
	}
	d.mu.Lock()
	d.lastTID, d.failures = 0, 0
	clear(d.pendingTID)
	d.mu.Unlock()
	return s, nil
}

// MaxProtocolVersion implements E2EE: DAVE protocol version 1.
func (d *DAVE) MaxProtocolVersion() int { return dave.MaxProtocolVersion }

// HandleMessage implements E2EE. A Session Description (op 4) starts a new
// voice session, so it also starts a fresh DAVE session: no group or key
// package carries over from the previous server session. The recognised
// users do (the server may announce them with op 11 before op 4); Ready
// (op 2), when the Conn passes it on, starts the set afresh.
func (d *DAVE) HandleMessage(ctx context.Context, m wire.Message, g GatewayWriter) error {
	payload := []byte(m.Data)
	if m.Binary {
		payload = m.Payload
	}
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	d.w, d.wctx = g, ctx
	s := d.sess.Load()
	if m.Op == wire.OpSessionDescription {
		var err error
		if s, err = d.newSession(); err != nil {
			return err
		}
	}
	d.observe(m.Op, payload)
	out, err := s.HandleOp(int(m.Op), payload)
	d.sess.Store(s) // a new session goes live only once it knows its protocol version
	if err != nil {
		err = fmt.Errorf("voice: %w", err)
	}
	err = errors.Join(err, d.send(ctx, g, out))
	d.armWatchdog(s)
	if errors.Is(err, dave.ErrNotWelcomed) {
		d.notWelcomed()
	}
	d.mu.Lock()
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
	return err
}

// OnNotWelcomed sets what to do when the connection was never added to the
// call's group: the session waited, sent a fresh key package (op 26),
// waited again, and the voice server still did not propose it. Only a new
// voice gateway session can help; wire f to one, e.g. for a Conn c on server
// srv: d.OnNotWelcomed(func() { c.ServerUpdate(srv) }). f runs on its own
// goroutine; without it the state is only logged.
func (d *DAVE) OnNotWelcomed(f func()) {
	d.mu.Lock()
	d.onNotWelcomed = f
	d.mu.Unlock()
}

// SetWelcomeTimeout overrides dave.DefaultWelcomeTimeout for the sessions
// the connection starts from now on (each op 4 starts one).
func (d *DAVE) SetWelcomeTimeout(t time.Duration) {
	d.mu.Lock()
	d.welcomeWait = t
	d.mu.Unlock()
}

func (d *DAVE) notWelcomed() {
	d.log.Warn("voice dave: never welcomed into the group; a new voice session is needed")
	d.mu.Lock()
	f := d.onNotWelcomed
	d.mu.Unlock()
	if f != nil {
		go f()
	}
}

// armWatchdog (re)arms the timer for the session's welcome watchdog; sendMu is held.
func (d *DAVE) armWatchdog(s *dave.Session) {
	if d.watchdog != nil {
		d.watchdog.Stop()
		d.watchdog = nil
	}
	at := s.WatchdogDeadline()
	if at.IsZero() {
		return
	}
	d.watchdog = time.AfterFunc(time.Until(at), func() {
		d.sendMu.Lock()
		defer d.sendMu.Unlock()
		if d.sess.Load() != s || d.w == nil || d.wctx.Err() != nil {
			return // a new session or gateway connection took over
		}
		out, err := s.Tick()
		err = errors.Join(err, d.send(d.wctx, d.w, out))
		if errors.Is(err, dave.ErrNotWelcomed) {
			d.notWelcomed()
		} else if err != nil {
			d.log.Warn("voice dave: welcome watchdog", "err", err)
		}
		d.armWatchdog(s)
	})
}

// WaitReady waits until outgoing frames can be sent (the first transition
// into a group has executed, or the call runs without DAVE), or ctx ends.
// A speaker waits here, briefly, so the start of its first reply is not
// dropped while the group forms.
func (d *DAVE) WaitReady(ctx context.Context) error {
	for {
		d.mu.Lock()
		ch := d.changed
		d.mu.Unlock()
		if d.Ready() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("voice: dave: waiting for the group: %w", ctx.Err())
		case <-ch:
		}
	}
}

// observe tracks transitions the way discord.js does for its failure counter.
func (d *DAVE) observe(op wire.Op, payload []byte) {
	var t struct {
		TransitionID int `json:"transition_id"`
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch op {
	case wire.OpDAVEExecuteTransition:
		if json.Unmarshal(payload, &t) == nil {
			if _, ok := d.pendingTID[t.TransitionID]; ok {
				delete(d.pendingTID, t.TransitionID)
				d.lastTID, d.failures = t.TransitionID, 0
			}
		}
	case wire.OpDAVEPrepareTransition:
		if json.Unmarshal(payload, &t) == nil && t.TransitionID == 0 {
			d.lastTID, d.failures = 0, 0
		}
	case wire.OpDAVEMLSAnnounceCommitTransition, wire.OpDAVEMLSWelcome:
		if len(payload) >= 2 && payload[0] == 0 && payload[1] == 0 {
			d.lastTID, d.failures = 0, 0 // transition 0 executes at once
		}
	}
}

// send writes the session's replies in order; called with sendMu held.
func (d *DAVE) send(ctx context.Context, g GatewayWriter, out []dave.Outgoing) error {
	for _, o := range out {
		m := wire.Message{Op: wire.Op(o.Op), Seq: -1, Binary: o.Binary}
		if o.Binary {
			m.Payload = o.Payload
		} else {
			m.Data = o.Payload
		}
		if o.Op == int(wire.OpDAVETransitionReady) {
			var t wire.DAVETransition
			if json.Unmarshal(o.Payload, &t) == nil {
				d.mu.Lock()
				d.pendingTID[t.TransitionID] = time.Now()
				d.mu.Unlock()
			}
		}
		if err := g.WriteMessage(ctx, m); err != nil {
			return fmt.Errorf("voice: dave: send op %d: %w", o.Op, err)
		}
	}
	return nil
}

// EncryptOpus implements E2EE. Before the first executed transition it fails
// with dave.ErrNotReady and the frame is dropped: nothing goes out in clear.
func (d *DAVE) EncryptOpus(dst, opus []byte) ([]byte, error) {
	return d.sess.Load().Encrypt(dst, opus)
}

// DecryptOpus implements E2EE. userID is the sender's Discord user ID.
func (d *DAVE) DecryptOpus(dst []byte, userID string, frame []byte) ([]byte, error) {
	uid, err := strconv.ParseUint(userID, 10, 64)
	if err != nil {
		return dst, fmt.Errorf("voice: dave: sender %q: %w", userID, err)
	}
	s := d.sess.Load()
	out, err := s.Decrypt(dst, uid, frame)
	if err == nil {
		d.mu.Lock()
		d.failures = 0
		d.mu.Unlock()
		return out, nil
	}
	// Only members' frames count: a sender outside the group says nothing
	// about whether we are in step with it.
	if _, ok := s.Epoch(); ok && !errors.Is(err, dave.ErrUnknownUser) {
		d.decryptFailed(s)
	}
	return out, err
}

// decryptFailed counts a failure in an established group and, past the
// tolerance, flags the last transition (op 31) and rejoins with a new key
// package, as discord.js does: the group we hold is not the others'.
func (d *DAVE) decryptFailed(s *dave.Session) {
	d.mu.Lock()
	for tid, at := range d.pendingTID {
		if time.Since(at) < pendingTransitionLimit {
			d.mu.Unlock()
			return // frames of the next epoch may overtake its commit
		}
		delete(d.pendingTID, tid) // op 22 never came; the session has moved on
	}
	d.failures++
	tid := d.lastTID
	if d.failures <= decryptFailureTolerance || tid == 0 {
		d.mu.Unlock()
		return
	}
	d.failures = 0
	d.mu.Unlock()

	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	if d.sess.Load() != s || d.w == nil {
		return // a new session started meanwhile
	}
	d.log.Warn("voice dave: frames keep failing to decrypt; flagging the transition and rejoining the group", "transition", tid)
	flag, _ := json.Marshal(wire.DAVETransition{TransitionID: tid})
	reset, _ := json.Marshal(wire.DAVEPrepareEpoch{ProtocolVersion: s.ProtocolVersion(), Epoch: 1})
	out, err := s.HandleOp(int(wire.OpDAVEPrepareEpoch), reset) // a fresh leaf and key package
	out = append([]dave.Outgoing{{Op: int(wire.OpDAVEMLSInvalidCommitWelcome), Payload: flag}}, out...)
	if err = errors.Join(err, d.send(d.wctx, d.w, out)); err != nil {
		d.log.Warn("voice dave: recovery", "err", err)
	}
}

// Epoch returns the MLS epoch of the group the connection is in, and false
// while it is in none.
func (d *DAVE) Epoch() (uint64, bool) { return d.sess.Load().Epoch() }

// Ready reports whether outgoing frames are sent: encrypted under the
// current group key, or in clear under protocol version 0.
func (d *DAVE) Ready() bool { return d.sess.Load().Ready() }

// ProtocolVersion returns the DAVE protocol version in force (0: transport
// encryption only, as in Stage channels).
func (d *DAVE) ProtocolVersion() int { return d.sess.Load().ProtocolVersion() }
