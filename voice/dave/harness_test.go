package dave

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/livecord/livecord/voice/dave/davetest"
)

// peer is one call member: a Go Session or a davey session in Node.
type peer interface {
	handle(op int, payload []byte) ([]Outgoing, error)
	encrypt(opus []byte) ([]byte, error)
	decrypt(from uint64, frame []byte) ([]byte, error)
	epoch() (uint64, bool)
}

// goPeer adapts a Session.
type goPeer struct{ s *Session }

func (p goPeer) handle(op int, payload []byte) ([]Outgoing, error) { return p.s.HandleOp(op, payload) }
func (p goPeer) encrypt(opus []byte) ([]byte, error)               { return p.s.Encrypt(nil, opus) }
func (p goPeer) decrypt(from uint64, f []byte) ([]byte, error)     { return p.s.Decrypt(nil, from, f) }
func (p goPeer) epoch() (uint64, bool)                             { return p.s.Epoch() }

// call routes messages between a gateway and its peers, synchronously.
type call struct {
	t      testing.TB
	gw     *davetest.Gateway
	peers  map[uint64]peer
	prefer uint64 // deliver to this peer first, to decide commit races
	mangle func(*davetest.Message)
	hold   bool               // keep Execute Transition (op 22) messages back
	held   []davetest.Message // until release
	// holdCommits keeps the peers' op 28 back from the gateway.
	holdCommits bool
	heldCommits []davetest.Message // To is the sender
	// holdAcks keeps the peers' op 23 back from the gateway.
	holdAcks bool
	heldAcks []davetest.Message // To is the sender
	errs     map[uint64][]error
}

func newCall(t testing.TB, channel uint64) *call {
	gw, err := davetest.New(channel)
	if err != nil {
		t.Fatal(err)
	}
	return &call{t: t, gw: gw, peers: map[uint64]peer{}, errs: map[uint64][]error{}}
}

// join connects a peer: the gateway's greeting, then op 4 selecting DAVE v1.
func (c *call) join(uid uint64, p peer) {
	c.t.Helper()
	c.peers[uid] = p
	msgs := c.gw.Connect(uid)
	msgs = append(msgs, davetest.Message{To: uid, Op: 4, Payload: []byte(`{"mode":"aead_aes256_gcm_rtpsize","dave_protocol_version":1}`)})
	c.deliver(msgs)
}

func (c *call) leave(uid uint64) {
	c.t.Helper()
	delete(c.peers, uid)
	msgs, err := c.gw.Disconnect(uid)
	if err != nil {
		c.t.Fatal(err)
	}
	c.deliver(msgs)
}

func (c *call) deliver(queue []davetest.Message) {
	c.t.Helper()
	for steps := 0; len(queue) > 0; steps++ {
		if steps > 1000 {
			c.t.Fatal("message loop does not settle")
		}
		i := 0
		if j := slices.IndexFunc(queue, func(m davetest.Message) bool { return m.To == c.prefer }); j >= 0 {
			i = j
		}
		m := queue[i]
		queue = slices.Delete(queue, i, i+1)
		p, ok := c.peers[m.To]
		if !ok {
			continue
		}
		if c.mangle != nil {
			c.mangle(&m)
		}
		if c.hold && m.Op == opExecuteTransition {
			c.held = append(c.held, m)
			continue
		}
		outs, err := p.handle(m.Op, m.Payload)
		if err != nil {
			c.errs[m.To] = append(c.errs[m.To], err)
			c.t.Logf("peer %d: op %d: %v", m.To, m.Op, err)
		}
		for _, o := range outs {
			if c.holdCommits && o.Op == opCommitWelcome {
				c.heldCommits = append(c.heldCommits, davetest.Message{To: m.To, Op: o.Op, Payload: o.Payload, Binary: o.Binary})
				continue
			}
			if c.holdAcks && o.Op == opTransitionReady {
				c.heldAcks = append(c.heldAcks, davetest.Message{To: m.To, Op: o.Op, Payload: o.Payload})
				continue
			}
			more, err := c.gw.Receive(m.To, o.Op, o.Payload)
			if err != nil {
				c.t.Fatalf("gateway: op %d from %d: %v", o.Op, m.To, err)
			}
			queue = append(queue, more...)
		}
	}
}

// releaseAcks hands the gateway the held op 23 messages of peers still in the call.
func (c *call) releaseAcks() {
	c.t.Helper()
	c.holdAcks = false
	held := c.heldAcks
	c.heldAcks = nil
	for _, m := range held {
		if _, ok := c.peers[m.To]; !ok {
			continue
		}
		more, err := c.gw.Receive(m.To, m.Op, m.Payload)
		if err != nil {
			c.t.Fatalf("gateway: op %d from %d: %v", m.Op, m.To, err)
		}
		c.deliver(more)
	}
}

// release delivers the held op 22 messages.
func (c *call) release() {
	c.t.Helper()
	c.hold = false
	held := c.held
	c.held = nil
	c.deliver(held)
}

// checkEpoch asserts every peer is in the gateway's epoch with its roster.
func (c *call) checkEpoch() uint64 {
	c.t.Helper()
	want := c.gw.Epoch()
	for uid, p := range c.peers {
		e, ok := p.epoch()
		if !ok || e != want {
			c.t.Fatalf("peer %d at epoch %d (%v), gateway at %d", uid, e, ok, want)
		}
	}
	return want
}

// checkMedia has every peer send frames that every other peer decrypts once
// and rejects when replayed.
func (c *call) checkMedia(frames int) {
	c.t.Helper()
	for from, sp := range c.peers {
		for n := range frames {
			opus := []byte(fmt.Sprintf("opus %d from %d epoch %d", n, from, c.gw.Epoch()))
			f, err := sp.encrypt(opus)
			if err != nil {
				c.t.Fatalf("peer %d encrypt: %v", from, err)
			}
			if bytes.Contains(f, opus) || len(f) <= len(opus) {
				c.t.Fatalf("peer %d sent %x in clear", from, f)
			}
			for to, rp := range c.peers {
				if to == from {
					continue
				}
				got, err := rp.decrypt(from, f)
				if err != nil || !bytes.Equal(got, opus) {
					c.t.Fatalf("epoch %d: %d decrypting %d's frame: %q, %v", c.gw.Epoch(), to, from, got, err)
				}
				if _, err := rp.decrypt(from, f); err == nil {
					c.t.Fatalf("epoch %d: %d accepted a replay of %d's frame", c.gw.Epoch(), to, from)
				}
			}
		}
	}
}
