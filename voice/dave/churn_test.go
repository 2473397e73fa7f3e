package dave

import (
	"github.com/livecord/livecord/voice/dave/davetest"
	"slices"
	"testing"
)

// roster returns the gateway's members (user IDs, blank leaves left out), sorted.
func (c *call) roster() []uint64 {
	var r []uint64
	for _, u := range c.gw.Roster() {
		if u != 0 {
			r = append(r, u)
		}
	}
	slices.Sort(r)
	return r
}

func (c *call) wantRoster(users ...uint64) {
	c.t.Helper()
	slices.Sort(users)
	if got := c.roster(); !slices.Equal(got, users) {
		c.t.Fatalf("roster %v, want %v (epoch %d)", got, users, c.gw.Epoch())
	}
}

// TestGatewayLeaveDuringTransition: a member leaves while a transition is in
// flight (its op 23s not yet in). The gateway proposes its removal only once
// the transition executed (a commit during it could not win), so the Remove
// is committed and the call goes on without it.
func TestGatewayLeaveDuringTransition(t *testing.T) {
	const channel = 71
	c := newCall(t, channel)
	for uid := uint64(1); uid <= 3; uid++ {
		c.join(uid, newGoPeer(t, uid, channel))
	}
	c.wantRoster(1, 2, 3)
	c.holdAcks = true
	c.join(4, newGoPeer(t, 4, channel)) // the Add commits; its transition waits for op 23
	if len(c.heldAcks) == 0 {
		t.Fatal("no transition in flight")
	}
	c.leave(2)
	c.releaseAcks()
	c.wantRoster(1, 3, 4)
	if e := c.checkEpoch(); e < 3 {
		t.Fatalf("epoch %d", e)
	}
	c.checkMedia(2)
}

// TestGatewayRejoinBeforeRemoval: a user whose connection drops and who
// reconnects before the old connection's leaf is removed is a joiner: its
// new connection gets no proposals or commits of the group's epoch (davey
// throws WrongEpoch at those) until its Welcome, also when another user's
// Add goes out meanwhile, and it is re-added.
func TestGatewayRejoinBeforeRemoval(t *testing.T) {
	const channel = 72
	c := newCall(t, channel)
	for uid := uint64(1); uid <= 3; uid++ {
		c.join(uid, newGoPeer(t, uid, channel))
	}
	c.holdCommits = true // the Remove of 2's old leaf is not committed yet
	c.leave(2)
	rejoined := newGoPeer(t, 2, channel)
	var early []int
	c.mangle = func(m *davetest.Message) {
		if m.To == 2 && (m.Op == opProposals || m.Op == opAnnounceCommit) {
			if _, ok := rejoined.epoch(); !ok {
				early = append(early, m.Op)
			}
		}
	}
	c.join(2, rejoined)
	c.join(5, newGoPeer(t, 5, channel)) // proposals go out while 2's old leaf is still in
	c.holdCommits = false
	held := c.heldCommits
	c.heldCommits = nil
	for _, m := range held { // the commits the members made meanwhile, in order
		more, err := c.gw.Receive(m.To, m.Op, m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		c.deliver(more)
	}
	if len(early) > 0 {
		t.Fatalf("the reconnected user got ops %v for the group before its Welcome", early)
	}
	c.wantRoster(1, 2, 3, 5)
	c.checkEpoch()
	c.checkMedia(2)
}

// TestGatewaySoleResetCountsConnections: members leave while their Removes
// are still uncommitted. The sole-member reset counts connections that hold
// a leaf, not leaves of departed connections, so when the last connected
// member is alone the group is dropped, and once everyone left, later joiners
// form a new group.
func TestGatewaySoleResetCountsConnections(t *testing.T) {
	const channel = 73
	c := newCall(t, channel)
	for uid := uint64(1); uid <= 3; uid++ {
		c.join(uid, newGoPeer(t, uid, channel))
	}
	c.holdCommits = true // no Remove is ever committed
	c.leave(2)
	c.leave(3)
	if e, ok := c.peers[1].epoch(); ok {
		t.Fatalf("member 1, alone, still in the group at epoch %d: no sole-member reset", e)
	}
	c.leave(1)
	c.holdCommits = false
	c.heldCommits = nil
	c.join(4, newGoPeer(t, 4, channel))
	c.join(5, newGoPeer(t, 5, channel))
	c.wantRoster(4, 5)
	if e := c.checkEpoch(); e != 1 {
		t.Fatalf("joiners after everyone left are at epoch %d, want a new group (1)", e)
	}
	c.checkMedia(2)
}
