// Package davetest provides the DAVE half of a Discord voice server for tests:
// the MLS external sender that announces itself (op 25), turns key packages
// into signed Add proposals and departures into Remove proposals (op 27),
// picks the first valid commit of each epoch (ops 29 and 30) and runs the
// prepare/execute transition handshake (ops 23 and 22).
//
// It is transport-agnostic: feed it what clients send and deliver the
// messages it returns, so a test controls ordering (and so commit races).
package davetest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/livecord/livecord/voice/mls"
)

// Message is one voice gateway message for one client.
type Message struct {
	To      uint64
	Op      int
	Payload []byte // binary payload after the op byte when Binary, else the JSON "d"
	Binary  bool
}

// Gateway is a voice channel's DAVE external sender. It is safe for concurrent use.
type Gateway struct {
	mu        sync.Mutex
	groupID   []byte
	key       *mls.SigningKey
	extSender []byte

	clients     map[uint64]*client
	order       []uint64 // connection order, for deterministic output
	established bool
	epoch       uint64
	roster      []uint64 // leaf index -> user ID; 0 = blank

	sent    map[uint64][]sentProposal // unrevoked proposals sent to each client this epoch
	nextTID uint16
	waiting map[uint64]bool // clients whose op 23 the current transition awaits
	tid     uint16

	stats Stats
}

// Stats counts what the gateway did with the commits it received.
type Stats struct {
	Commits   int    // accepted
	Dropped   int    // refused: lost races, stale or incomplete commits
	Committer uint64 // the user whose commit won most recently
}

// Stats returns the commit counters.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats
}

// client is one connection of a user. Group membership belongs to the
// connection, not the user: a user who reconnects before the leaf of their
// old connection is removed is a joiner, and must get no proposals for the
// group's epoch (davey refuses them with WrongEpoch).
type client struct {
	kp      *mls.KeyPackage
	flagged bool // sent op 31: remove and re-add on its next key package
	leaf    int  // this connection's leaf in the group, -1 when it holds none
}

type sentProposal struct {
	ref    []byte
	msg    []byte
	add    uint64 // user added, or 0
	kpRef  []byte // the added key package's reference
	remove uint32 // leaf removed, when add == 0
}

// New returns a gateway for the voice channel channelID (the MLS group ID).
func New(channelID uint64) (*Gateway, error) {
	key, err := mls.GenerateSignatureKey()
	if err != nil {
		return nil, fmt.Errorf("davetest: %w", err)
	}
	// libdave's test external sender uses this identity.
	es := mls.ExternalSender{SignatureKey: key.PublicKey(), Identity: []byte{0, 1, 1, 0}}
	gid := binary.BigEndian.AppendUint64(nil, channelID)
	return &Gateway{
		groupID:   gid,
		key:       key,
		extSender: es.Marshal(),
		clients:   make(map[uint64]*client),
		sent:      make(map[uint64][]sentProposal),
		waiting:   make(map[uint64]bool),
	}, nil
}

// ExternalSender returns the op-25 payload.
func (g *Gateway) ExternalSender() []byte { return bytes.Clone(g.extSender) }

// Epoch returns the established group's epoch (0 before the first commit).
func (g *Gateway) Epoch() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.epoch
}

// Roster returns the user ID at each leaf (0 for blank leaves).
func (g *Gateway) Roster() []uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.roster)
}

// Connect admits a user to the call: op 11 both ways and op 25 to the user.
// The caller sends op 4 (dave_protocol_version 1) itself.
func (g *Gateway) Connect(uid uint64) []Message {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Message
	var others []string
	for _, o := range g.order {
		others = append(others, strconv.FormatUint(o, 10))
		out = append(out, jsonMsg(o, 11, map[string]any{"user_ids": []string{strconv.FormatUint(uid, 10)}}))
	}
	g.clients[uid] = &client{leaf: -1}
	g.order = append(g.order, uid)
	if len(others) > 0 {
		out = append(out, jsonMsg(uid, 11, map[string]any{"user_ids": others}))
	}
	return append(out, Message{To: uid, Op: 25, Payload: g.ExternalSender(), Binary: true})
}

// Disconnect removes a user from the call: op 13 to the others, then a
// Remove proposal, or a sole-member reset when one member is left.
func (g *Gateway) Disconnect(uid uint64) ([]Message, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gone, ok := g.clients[uid]
	if !ok {
		return nil, fmt.Errorf("davetest: disconnect of unknown user %d", uid)
	}
	delete(g.clients, uid)
	g.order = slices.DeleteFunc(g.order, func(o uint64) bool { return o == uid })
	delete(g.sent, uid)
	_, awaited := g.waiting[uid]
	delete(g.waiting, uid)
	var out []Message
	for _, o := range g.order {
		out = append(out, jsonMsg(o, 13, map[string]any{"user_id": strconv.FormatUint(uid, 10)}))
	}
	if g.established && gone.leaf >= 0 && len(g.holders()) <= 1 {
		// At most one connection still holds a leaf (leaves of departed
		// connections not yet removed do not count): drop the group. The
		// member left alone starts over and re-creates it with the next
		// joiner; joiners waiting with key packages may form one now.
		for _, m := range g.holders() {
			out = append(out,
				jsonMsg(m, 24, map[string]any{"protocol_version": 1, "epoch": 1}),
				jsonMsg(m, 21, map[string]any{"protocol_version": 1, "transition_id": 0}))
			g.clients[m].kp = nil // a fresh key package follows the reset
		}
		g.established, g.epoch, g.roster = false, 0, nil
		for _, c := range g.clients {
			c.leaf, c.flagged = -1, false
		}
		clear(g.sent)
		g.tid = 0 // a transition in flight belonged to the dropped group
		clear(g.waiting)
		more, err := g.propose()
		return append(out, more...), err
	}
	// Withdraw any Add of the departed user still waiting for a commit.
	var refs [][]byte
	for _, ps := range g.sent {
		for _, p := range ps {
			if p.add == uid && !slices.ContainsFunc(refs, func(r []byte) bool { return bytes.Equal(r, p.ref) }) {
				refs = append(refs, p.ref)
			}
		}
	}
	out = append(out, g.revoke(refs)...)
	if g.tid != 0 {
		// Proposals wait for the transition in flight (a commit during it
		// could not win); its op 22 proposes, and the departed connection's
		// op 23 is no longer awaited.
		if awaited {
			more, err := g.maybeExecute()
			out = append(out, more...)
			return out, err
		}
		return out, nil
	}
	more, err := g.propose()
	return append(out, more...), err
}

// Receive processes a message a client sent: ops 23, 26, 28 and 31.
func (g *Gateway) Receive(from uint64, op int, payload []byte) ([]Message, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.clients[from]
	if !ok {
		return nil, fmt.Errorf("davetest: op %d from unknown user %d", op, from)
	}
	switch op {
	case 26:
		kp, err := mls.UnmarshalKeyPackage(payload)
		if err != nil {
			return nil, fmt.Errorf("davetest: key package from %d: %w", from, err)
		}
		if id := kp.Identity(); len(id) != 8 || binary.BigEndian.Uint64(id) != from {
			return nil, fmt.Errorf("davetest: key package from %d names identity %x", from, id)
		}
		c.kp = kp
		if g.tid != 0 {
			return nil, nil // proposals wait for the transition in flight
		}
		return g.propose()
	case 28:
		return g.commit(from, payload)
	case 23:
		var d struct {
			TransitionID uint16 `json:"transition_id"`
		}
		if err := json.Unmarshal(payload, &d); err != nil {
			return nil, fmt.Errorf("davetest: op 23: %w", err)
		}
		if d.TransitionID != g.tid || g.tid == 0 {
			return nil, nil
		}
		delete(g.waiting, from)
		return g.maybeExecute()
	case 31:
		c.flagged = true
		c.kp = nil
		delete(g.waiting, from)
		return g.maybeExecute()
	}
	return nil, fmt.Errorf("davetest: unexpected op %d from %d", op, from)
}

// holders returns the connected users whose connection holds a leaf, in connection order.
func (g *Gateway) holders() []uint64 {
	var m []uint64
	for _, u := range g.order {
		if g.clients[u].leaf >= 0 {
			m = append(m, u)
		}
	}
	return m
}

// holder returns the live connection that holds leaf i, or nil.
func (g *Gateway) holder(i int) *client {
	if i < 0 || i >= len(g.roster) || g.roster[i] == 0 {
		return nil
	}
	if c := g.clients[g.roster[i]]; c != nil && c.leaf == i {
		return c
	}
	return nil
}

// Holders returns the users whose current connection holds a leaf of the
// group (a departed connection's leaf awaiting its Remove does not count).
func (g *Gateway) Holders() []uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.holders()
}

// propose sends the proposals the current membership calls for.
func (g *Gateway) propose() ([]Message, error) {
	if !g.established {
		return g.proposeNewGroup()
	}
	var msgs []sentProposal
	proposed := g.proposedThisEpoch()
	for i, u := range g.roster {
		if u == 0 {
			continue
		}
		if c := g.holder(i); c != nil && !(c.flagged && c.kp != nil) {
			continue
		}
		if proposed.removes[uint32(i)] {
			continue
		}
		m, err := mls.ExternalRemoveProposal(g.groupID, g.epoch, g.key, uint32(i))
		if err != nil {
			return nil, err
		}
		p, err := g.sentProp(m)
		if err != nil {
			return nil, err
		}
		p.remove = uint32(i)
		msgs = append(msgs, p)
	}
	for _, u := range g.order {
		c := g.clients[u]
		if c.kp == nil || proposed.adds[u] || (c.leaf >= 0 && !c.flagged) {
			continue
		}
		m, err := mls.ExternalAddProposal(g.groupID, g.epoch, g.key, c.kp)
		if err != nil {
			return nil, err
		}
		p, err := g.sentProp(m)
		if err != nil {
			return nil, err
		}
		p.add, p.kpRef = u, c.kp.Ref()
		msgs = append(msgs, p)
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	var out []Message
	for _, u := range g.holders() {
		if g.clients[u].flagged {
			continue
		}
		g.sent[u] = append(g.sent[u], msgs...)
		out = append(out, appendMsg(u, msgs))
	}
	return out, nil
}

// proposeNewGroup asks every pending client with a key package to add all
// the others: the first commit back creates the group.
func (g *Gateway) proposeNewGroup() ([]Message, error) {
	var ready []uint64
	for _, u := range g.order {
		if g.clients[u].kp != nil {
			ready = append(ready, u)
		}
	}
	if len(ready) < 2 {
		return nil, nil
	}
	adds := make(map[uint64]sentProposal)
	for _, u := range ready {
		m, err := mls.ExternalAddProposal(g.groupID, 0, g.key, g.clients[u].kp)
		if err != nil {
			return nil, err
		}
		p, err := g.sentProp(m)
		if err != nil {
			return nil, err
		}
		p.add, p.kpRef = u, g.clients[u].kp.Ref()
		adds[u] = p
	}
	var out []Message
	for _, u := range ready {
		var msgs []sentProposal
		for _, o := range ready {
			if o != u && !slices.ContainsFunc(g.sent[u], func(p sentProposal) bool { return p.add == o }) {
				msgs = append(msgs, adds[o])
			}
		}
		if len(msgs) > 0 {
			g.sent[u] = append(g.sent[u], msgs...)
			out = append(out, appendMsg(u, msgs))
		}
	}
	return out, nil
}

type proposedSet struct {
	adds    map[uint64]bool
	removes map[uint32]bool
}

func (g *Gateway) proposedThisEpoch() proposedSet {
	s := proposedSet{adds: map[uint64]bool{}, removes: map[uint32]bool{}}
	for _, ps := range g.sent {
		for _, p := range ps {
			if p.add != 0 {
				s.adds[p.add] = true
			} else {
				s.removes[p.remove] = true
			}
		}
	}
	return s
}

func (g *Gateway) sentProp(msg []byte) (sentProposal, error) {
	ref, err := mls.ProposalRef(msg)
	if err != nil {
		return sentProposal{}, err
	}
	return sentProposal{ref: ref, msg: msg}, nil
}

// commit handles op 28: the first valid commit of the epoch wins.
func (g *Gateway) commit(from uint64, payload []byte) ([]Message, error) {
	msg, welcome, err := mls.SplitMessage(payload)
	if err != nil {
		return nil, fmt.Errorf("davetest: op 28 from %d: %w", from, err)
	}
	h, err := mls.InspectCommit(msg)
	if err != nil {
		return nil, fmt.Errorf("davetest: op 28 from %d: %w", from, err)
	}
	if h.ByValue > 0 {
		g.stats.Dropped++
		return nil, nil // DAVE commits carry proposals by reference only
	}
	if g.tid != 0 || !bytes.Equal(h.GroupID, g.groupID) || h.Epoch != g.epoch {
		g.stats.Dropped++
		return nil, nil // late: this epoch already has a winner
	}
	// The commit must reference exactly the proposals this client was sent.
	sent := g.sent[from]
	if len(h.ProposalRefs) == 0 || len(h.ProposalRefs) != len(sent) {
		g.stats.Dropped++
		return nil, nil
	}
	var props []sentProposal
	for _, r := range h.ProposalRefs {
		i := slices.IndexFunc(sent, func(p sentProposal) bool { return bytes.Equal(p.ref, r) })
		if i < 0 {
			g.stats.Dropped++
			return nil, nil
		}
		props = append(props, sent[i])
	}
	var added []uint64
	kpRefs := map[uint64][]byte{}
	for _, p := range props {
		if p.add != 0 {
			added = append(added, p.add)
			kpRefs[p.add] = p.kpRef
		}
	}
	if (len(added) > 0) != (len(welcome) > 0) {
		return nil, fmt.Errorf("davetest: op 28 from %d: %d adds with %d welcome bytes", from, len(added), len(welcome))
	}
	// Recipients of op 29: the group before the commit (or the creator).
	var old []uint64
	if g.established {
		if g.clients[from].leaf != int(h.Sender) {
			g.stats.Dropped++
			return nil, nil
		}
		old = g.holders()
		for _, p := range props { // removes first, then adds (RFC 9420 §12.3)
			if p.add == 0 && int(p.remove) < len(g.roster) {
				if c := g.holder(int(p.remove)); c != nil {
					c.leaf = -1
				}
				g.roster[p.remove] = 0
			}
		}
		for len(g.roster) > 0 && g.roster[len(g.roster)-1] == 0 {
			g.roster = g.roster[:len(g.roster)-1]
		}
		g.epoch++
	} else {
		old = []uint64{from}
		g.roster = []uint64{from}
		g.clients[from].leaf = 0
		g.epoch = 1
		g.established = true
	}
	for _, u := range added {
		i := slices.Index(g.roster, 0)
		if i >= 0 {
			g.roster[i] = u
		} else {
			i = len(g.roster)
			g.roster = append(g.roster, u)
		}
		g.clients[u].leaf, g.clients[u].flagged = i, false
	}
	g.stats.Commits++
	g.stats.Committer = from
	g.nextTID++
	if g.nextTID == 0 {
		g.nextTID = 1
	}
	g.tid = g.nextTID
	clear(g.sent)
	clear(g.waiting)
	var out []Message
	tid := binary.BigEndian.AppendUint16(nil, g.tid)
	for _, u := range old {
		if _, ok := g.clients[u]; !ok || slices.Contains(added, u) {
			continue
		}
		if g.clients[u].leaf < 0 {
			continue // removed by this commit
		}
		g.waiting[u] = true
		out = append(out, Message{To: u, Op: 29, Payload: append(slices.Clone(tid), msg...), Binary: true})
	}
	for _, u := range added {
		// Each joiner gets only its own EncryptedGroupSecrets, as Discord forwards them.
		w, err := mls.WelcomeFor(welcome, kpRefs[u])
		if err != nil {
			return nil, fmt.Errorf("davetest: welcome for %d: %w", u, err)
		}
		g.waiting[u] = true
		out = append(out, Message{To: u, Op: 30, Payload: append(slices.Clone(tid), w...), Binary: true})
		g.clients[u].kp = nil
	}
	return out, nil
}

// maybeExecute sends op 22 once every participant acknowledged the transition.
func (g *Gateway) maybeExecute() ([]Message, error) {
	if g.tid == 0 || len(g.waiting) > 0 {
		return nil, nil
	}
	var out []Message
	for _, u := range g.holders() {
		out = append(out, jsonMsg(u, 22, map[string]any{"transition_id": g.tid}))
	}
	g.tid = 0
	more, err := g.propose()
	return append(out, more...), err
}

func appendMsg(to uint64, ps []sentProposal) Message {
	var vec []byte
	for _, p := range ps {
		vec = append(vec, p.msg...)
	}
	payload := append([]byte{0}, appendVarint(nil, len(vec))...)
	return Message{To: to, Op: 27, Payload: append(payload, vec...), Binary: true}
}

// revoke withdraws proposals (by ref) from every client that was sent them (op 27 revoke).
func (g *Gateway) revoke(refs [][]byte) []Message {
	if len(refs) == 0 {
		return nil
	}
	var out []Message
	for _, u := range g.order {
		var vec []byte
		g.sent[u] = slices.DeleteFunc(g.sent[u], func(p sentProposal) bool {
			for _, r := range refs {
				if bytes.Equal(p.ref, r) {
					vec = append(appendVarint(vec, len(r)), r...)
					return true
				}
			}
			return false
		})
		if len(vec) > 0 {
			payload := append([]byte{1}, appendVarint(nil, len(vec))...)
			out = append(out, Message{To: u, Op: 27, Payload: append(payload, vec...), Binary: true})
		}
	}
	return out
}

func jsonMsg(to uint64, op int, d any) Message {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err) // only maps of strings and numbers reach here
	}
	return Message{To: to, Op: op, Payload: b}
}

func appendVarint(b []byte, n int) []byte {
	switch {
	case n < 1<<6:
		return append(b, byte(n))
	case n < 1<<14:
		return binary.BigEndian.AppendUint16(b, uint16(n)|0x4000)
	default:
		return binary.BigEndian.AppendUint32(b, uint32(n)|0x80000000)
	}
}
