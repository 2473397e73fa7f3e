package voicetest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/livecord/livecord/voice/internal/wire"

	"github.com/livecord/livecord/voice/dave/davetest"
)

// ExternalSender plays Discord's DAVE role in a Server (protocol version 1):
// per call, the MLS external sender with its own signing key (op 25), signed
// Add and Remove proposals as members join and leave (op 27), the first
// valid commit of each epoch (op 29 to the members before it, op 30 to the
// joiners only), transition IDs with op 23 awaited before op 22, the
// sole-member reset (ops 24 and 21) and re-adding a member that reports an
// invalid commit or welcome (op 31). The MLS half is davetest.Gateway; this
// type routes it through the Server's sessions, with sequence numbers and
// replay on resume like every other server message.
//
// Pass it as Options.DAVE; one ExternalSender serves one Server.
type ExternalSender struct {
	// TransitionTimeout bounds the wait for op 23: members that have not
	// answered by then are not waited for (default 2 s).
	TransitionTimeout time.Duration

	mu     sync.Mutex
	s      *Server
	calls  map[CallID]*daveCall
	closed bool
}

// daveCall is one voice channel's DAVE state. Its mutex is held while a
// gateway step runs and its messages are sent, so every member receives the
// messages of successive steps in order.
type daveCall struct {
	mu      sync.Mutex
	id      CallID
	channel uint64
	gw      *davetest.Gateway
	timer   *time.Timer
	members map[uint64]bool     // connected to the gateway
	flagged map[uint64]bool     // sent op 31 and not welcomed back yet
	kps     map[uint64][]byte   // each member's key package sent since its last op 31
	stale   map[uint64]int      // Left calls still due for sessions a rejoin already replaced
	tid     uint16              // transition in flight, 0 when none
	acked   map[uint64]bool     // members whose op 23 the transition awaits (false) or got (true)
	corrupt map[corruptKey]bool // test hook: flip the last byte of the next such message
	lose    map[uint64]int      // test hook: key packages (op 26) to lose, per user
	st      DAVEState
}

type corruptKey struct {
	user uint64
	op   wire.Op
}

// DAVEState is what the external sender did in one call.
type DAVEState struct {
	Epoch       uint64   // of the established group, 0 before the first commit
	Roster      []string // user ID at each leaf ("" for blank leaves)
	Commits     int      // winning commits
	Dropped     int      // commits refused: lost races, stale or incomplete
	Executed    int      // transitions executed (op 22 sent)
	TimedOut    int      // transitions executed without every op 23
	Invalid     int      // op 31 reports received
	SoleResets  int      // sole-member resets (op 24 epoch 1 + op 21 id 0)
	KeyPackages int      // op 26 received
	GroupResets int      // groups started over because every member reported op 31
	Lost        int      // key packages lost on purpose (LoseKeyPackages)
	Committer   string   // the most recent winning committer
	// InTransition is set between a winning commit (ops 29/30) and its op 22.
	InTransition bool
	// Rejoining counts members that reported op 31 and have not been
	// welcomed back yet: the group is settled only when it is 0.
	Rejoining int
}

// NewExternalSender returns the DAVE role for a Server's Options.DAVE.
func NewExternalSender() *ExternalSender {
	return &ExternalSender{calls: map[CallID]*daveCall{}}
}

// attach binds e to the server whose Options name it.
func (e *ExternalSender) attach(s *Server) {
	e.mu.Lock()
	e.s = s
	e.mu.Unlock()
}

func (e *ExternalSender) close() {
	e.mu.Lock()
	e.closed = true
	calls := make([]*daveCall, 0, len(e.calls))
	for _, c := range e.calls {
		calls = append(calls, c)
	}
	e.mu.Unlock()
	for _, c := range calls {
		c.mu.Lock()
		if c.timer != nil {
			c.timer.Stop()
		}
		c.mu.Unlock()
	}
}

// ProtocolVersion implements DAVE: version 1 for clients that speak it.
func (e *ExternalSender) ProtocolVersion(maxVersion int) int { return min(maxVersion, 1) }

func (e *ExternalSender) call(id CallID) (*daveCall, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.calls[id]; c != nil {
		return c, nil
	}
	ch, err := strconv.ParseUint(id.ChannelID, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("voicetest: dave: channel id %q: %w", id.ChannelID, err)
	}
	gw, err := davetest.New(ch)
	if err != nil {
		return nil, err
	}
	c := &daveCall{id: id, channel: ch, gw: gw, members: map[uint64]bool{}, flagged: map[uint64]bool{}, kps: map[uint64][]byte{}, stale: map[uint64]int{}, acked: map[uint64]bool{}, corrupt: map[corruptKey]bool{}, lose: map[uint64]int{}}
	e.calls[id] = c
	return c, nil
}

// Joined implements DAVE: the member gets op 25 (the Server already sent op 11).
func (e *ExternalSender) Joined(call CallID, userID string) {
	e.step(call, userID, func(c *daveCall, uid uint64) ([]davetest.Message, error) {
		var out []davetest.Message
		if c.members[uid] {
			// A new session replaced one whose Left is still on its way
			// (the Server reports departures asynchronously): leave first.
			c.stale[uid]++
			more, err := c.leave(uid)
			if err != nil {
				return nil, err
			}
			out = more
		}
		c.members[uid] = true
		return append(out, c.gw.Connect(uid)...), nil
	})
}

// Left implements DAVE: a Remove proposal, or the sole-member reset (the
// Server already sent op 13).
func (e *ExternalSender) Left(call CallID, userID string) {
	e.step(call, userID, func(c *daveCall, uid uint64) ([]davetest.Message, error) {
		if c.stale[uid] > 0 {
			c.stale[uid]--
			return nil, nil
		}
		if !c.members[uid] {
			return nil, nil
		}
		return c.leave(uid)
	})
}

func (c *daveCall) leave(uid uint64) ([]davetest.Message, error) {
	delete(c.members, uid)
	delete(c.flagged, uid)
	delete(c.kps, uid)
	delete(c.acked, uid)
	out, err := c.gw.Disconnect(uid)
	if err != nil {
		return nil, err
	}
	if len(c.members) == 0 {
		// The call is over: the next member starts a new one, with a new
		// external sender, as Discord's would.
		gw, err := davetest.New(c.channel)
		if err != nil {
			return nil, err
		}
		c.gw = gw
		if c.tid != 0 {
			c.endTransition()
		}
		return out, nil
	}
	if c.tid != 0 {
		switch {
		case c.gw.Epoch() == 0:
			c.endTransition() // the group was dropped (sole-member reset) with its transition
		case slices.ContainsFunc(out, func(m davetest.Message) bool { return m.Op == 22 }):
			// the gateway stopped waiting for the departed member's op 23
		case c.allAcked():
			out = append(out, c.forceExecute()...)
		}
	}
	return out, nil
}

// ClientMessage implements DAVE: ops 23, 26, 28 and 31.
func (e *ExternalSender) ClientMessage(call CallID, userID string, m wire.Message) {
	e.step(call, userID, func(c *daveCall, uid uint64) ([]davetest.Message, error) {
		payload := m.Payload
		if !m.Binary {
			payload = m.Data
		}
		switch m.Op {
		case wire.OpDAVEMLSKeyPackage:
			c.st.KeyPackages++
			if c.lose[uid] > 0 {
				c.lose[uid]--
				c.st.Lost++
				return nil, nil
			}
			c.kps[uid] = payload
		case wire.OpDAVEMLSInvalidCommitWelcome:
			c.st.Invalid++
			c.flagged[uid] = true
			delete(c.kps, uid) // a fresh one follows
			if _, ok := c.acked[uid]; ok {
				c.acked[uid] = true
			}
		case wire.OpDAVETransitionReady:
			var t wire.DAVETransition
			if json.Unmarshal(payload, &t) == nil && c.tid != 0 && t.TransitionID == int(c.tid) {
				if _, ok := c.acked[uid]; ok {
					c.acked[uid] = true
				}
			}
		}
		return c.gw.Receive(uid, int(m.Op), payload)
	})
}

// step runs one gateway step for a call under its lock and delivers the result.
func (e *ExternalSender) step(call CallID, userID string, f func(*daveCall, uint64) ([]davetest.Message, error)) {
	e.mu.Lock()
	s, closed := e.s, e.closed
	e.mu.Unlock()
	if s == nil || closed {
		return
	}
	uid, err := strconv.ParseUint(userID, 10, 64)
	if err != nil {
		s.violation("dave: user id %q is not a snowflake", userID)
		return
	}
	c, err := e.call(call)
	if err != nil {
		s.violation("%v", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out, err := f(c, uid)
	if err != nil {
		// A client broke the protocol (a malformed key package or commit):
		// Discord would close it; the test should fail.
		s.violation("dave: %s: %v", userID, err)
	}
	e.deliverLocked(c, out)
	e.deliverLocked(c, c.restartIfStuck())
}

// restartIfStuck starts the call's group over when every member in it has
// reported an invalid commit or welcome: nobody is left to commit their
// re-adds. Having sent op 31, each member has already reset itself and sent
// (or is sending) a fresh key package; it gets the new external sender
// (op 25), and the new group forms from those key packages.
func (c *daveCall) restartIfStuck() []davetest.Message {
	if c.tid != 0 || c.gw.Epoch() == 0 || len(c.flagged) == 0 {
		return nil
	}
	for _, u := range c.gw.Holders() { // connections in the group, not users
		if !c.flagged[u] {
			return nil
		}
	}
	gw, err := davetest.New(c.channel)
	if err != nil {
		return nil
	}
	c.gw = gw
	clear(c.flagged)
	c.st.GroupResets++
	var out []davetest.Message
	members := slices.Sorted(maps.Keys(c.members))
	for _, u := range members {
		out = append(out, gw.Connect(u)...)
	}
	for _, u := range members {
		if kp := c.kps[u]; kp != nil {
			more, _ := gw.Receive(u, 26, kp)
			out = append(out, more...)
		}
	}
	return out
}

// deliverLocked sends the gateway's messages, tracking transitions; c.mu is held.
func (e *ExternalSender) deliverLocked(c *daveCall, out []davetest.Message) {
	s := e.s
	for _, m := range out {
		switch m.Op {
		case 11, 13:
			continue // the Server sends clients connect/disconnect itself
		case 29, 30:
			tid := binary.BigEndian.Uint16(m.Payload)
			if tid != c.tid {
				c.startTransition(e, tid)
			}
			c.acked[m.To] = false
			if m.Op == 30 {
				delete(c.flagged, m.To) // welcomed back
			}
		case 22:
			if c.tid != 0 {
				c.endTransition()
			}
		case 21:
			var t wire.DAVEPrepareTransition
			if json.Unmarshal(m.Payload, &t) == nil && t.TransitionID == 0 {
				c.st.SoleResets++
			}
		}
		msg := wire.Message{Op: wire.Op(m.Op), Binary: m.Binary}
		if m.Binary {
			msg.Payload = m.Payload
		} else {
			msg.Data = m.Payload
		}
		k := corruptKey{m.To, msg.Op}
		if c.corrupt[k] {
			delete(c.corrupt, k)
			msg.Payload = slices.Clone(msg.Payload)
			msg.Payload[len(msg.Payload)-1] ^= 0xff
		}
		if err := s.Send(c.id, strconv.FormatUint(m.To, 10), msg); err != nil {
			s.log.Debug("voicetest: dave: undeliverable", "op", m.Op, "to", m.To, "err", err)
		}
	}
	st := c.gw.Stats()
	c.st.Epoch, c.st.Commits, c.st.Dropped = c.gw.Epoch(), st.Commits, st.Dropped
	if st.Committer != 0 {
		c.st.Committer = strconv.FormatUint(st.Committer, 10)
	}
	c.st.Roster = c.st.Roster[:0]
	for _, u := range c.gw.Roster() {
		r := ""
		if u != 0 {
			r = strconv.FormatUint(u, 10)
		}
		c.st.Roster = append(c.st.Roster, r)
	}
	s.mu.Lock()
	s.notifyLocked()
	s.mu.Unlock()
}

// startTransition arms the op-23 timeout for a new transition.
func (c *daveCall) startTransition(e *ExternalSender, tid uint16) {
	c.tid = tid
	clear(c.acked)
	if c.timer != nil {
		c.timer.Stop()
	}
	d := e.TransitionTimeout
	if d <= 0 {
		d = 2 * time.Second
	}
	c.timer = time.AfterFunc(d, func() { e.transitionTimedOut(c, tid) })
}

func (c *daveCall) endTransition() {
	c.tid = 0
	c.st.Executed++
	clear(c.acked)
	if c.timer != nil {
		c.timer.Stop()
	}
}

// allAcked reports whether every member the transition awaits answered.
func (c *daveCall) allAcked() bool {
	for _, ok := range c.acked {
		if !ok {
			return false
		}
	}
	return true
}

// forceExecute ends the wait for op 23 of the transition in flight: it
// answers in the name of the members that have not (any member's op 23
// with the current ID makes the gateway re-check whom it still awaits).
func (c *daveCall) forceExecute() []davetest.Message {
	ack := []byte(fmt.Sprintf(`{"transition_id":%d}`, c.tid))
	var out []davetest.Message
	for u := range c.members {
		if !c.acked[u] {
			more, _ := c.gw.Receive(u, 23, ack)
			out = append(out, more...)
		}
	}
	if len(out) == 0 { // everyone had answered: one more answer runs the check
		for u := range c.members {
			more, _ := c.gw.Receive(u, 23, ack)
			out = append(out, more...)
			break
		}
	}
	if c.tid != 0 && !slices.ContainsFunc(out, func(m davetest.Message) bool { return m.Op == 22 }) {
		c.endTransition() // executed for nobody: the group was reset
	}
	return out
}

// transitionTimedOut stops waiting for members that never sent op 23:
// Discord does not let one silent client hold the whole call's key back.
func (e *ExternalSender) transitionTimedOut(c *daveCall, tid uint16) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tid != tid {
		return
	}
	c.st.TimedOut++
	e.deliverLocked(c, c.forceExecute())
	e.deliverLocked(c, c.restartIfStuck())
}

// CorruptNext makes the external sender flip the last byte of the next
// message with op (29 or 30) that it sends to userID in call: a commit or
// welcome the member cannot use, which it must report with op 31.
func (e *ExternalSender) CorruptNext(call CallID, userID string, op wire.Op) error {
	uid, err := strconv.ParseUint(userID, 10, 64)
	if err != nil {
		return fmt.Errorf("voicetest: user id %q: %w", userID, err)
	}
	c, err := e.call(call)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.corrupt[corruptKey{uid, op}] = true
	c.mu.Unlock()
	return nil
}

// LoseKeyPackages makes the external sender ignore the next n key packages
// (op 26) userID sends in call, as a voice server that lost them would: the
// member is never proposed for the group.
func (e *ExternalSender) LoseKeyPackages(call CallID, userID string, n int) error {
	uid, err := strconv.ParseUint(userID, 10, 64)
	if err != nil {
		return fmt.Errorf("voicetest: user id %q: %w", userID, err)
	}
	c, err := e.call(call)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.lose[uid] += n
	c.mu.Unlock()
	return nil
}

// State returns the call's DAVE state.
func (e *ExternalSender) State(call CallID) DAVEState {
	e.mu.Lock()
	c := e.calls[call]
	e.mu.Unlock()
	if c == nil {
		return DAVEState{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.st
	st.Roster = slices.Clone(c.st.Roster)
	st.InTransition = c.tid != 0
	st.Rejoining = len(c.flagged)
	return st
}

// WaitState waits until cond holds for the call's DAVE state.
func (e *ExternalSender) WaitState(ctx context.Context, call CallID, cond func(DAVEState) bool) (DAVEState, error) {
	e.mu.Lock()
	s := e.s
	e.mu.Unlock()
	if s == nil {
		return DAVEState{}, fmt.Errorf("voicetest: external sender not attached to a server")
	}
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		st := e.State(call)
		if cond(st) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("voicetest: waiting on DAVE state (now %+v): %w", st, ctx.Err())
		case <-ch:
		}
	}
}
