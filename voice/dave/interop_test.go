package dave

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/livecord/livecord/internal/nodetest"
	"github.com/livecord/livecord/voice/dave/davetest"
)

// davey runs tools/node/davey-peer.mjs: real @snazzah/davey sessions.
type davey struct {
	t      testing.TB
	node   *nodetest.Process
	nextID int
}

// replyTimeout bounds each request to Node (a davey call takes microseconds).
const replyTimeout = 30 * time.Second

func startDavey(t testing.TB) *davey {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &davey{t: t, node: nodetest.Start(ctx, t, "davey-peer.mjs", nil)}
}

type daveyReply struct {
	ID    int    `json:"id"`
	Error string `json:"error"`
	Data  []byte `json:"data"`
	Out   []struct {
		Op     int    `json:"op"`
		Data   []byte `json:"data"`
		Binary bool   `json:"binary"`
	} `json:"out"`
	Epoch  *string  `json:"epoch"`
	Status int      `json:"status"`
	Ready  bool     `json:"ready"`
	Users  []string `json:"users"`

	EncryptNs float64 `json:"encryptNs"`
	DecryptNs float64 `json:"decryptNs"`
}

func (d *davey) call(req map[string]any) daveyReply {
	d.t.Helper()
	d.nextID++
	req["id"] = d.nextID
	if err := d.node.Send(req); err != nil {
		d.t.Fatalf("davey-peer.mjs: write: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), replyTimeout)
	defer cancel()
	line, err := d.node.Next(ctx)
	if err != nil {
		d.t.Fatalf("davey-peer.mjs did not answer %s: %v", req["cmd"], err)
	}
	var r daveyReply
	if err := json.Unmarshal(line, &r); err != nil {
		d.t.Fatalf("davey-peer.mjs reply %q: %v", line, err)
	}
	if r.ID != d.nextID {
		d.t.Fatalf("reply %d to request %d", r.ID, d.nextID)
	}
	return r
}

// daveyPeer is one davey session inside the Node process.
type daveyPeer struct {
	d   *davey
	uid string
}

func (d *davey) newPeer(uid, channel uint64) daveyPeer {
	p := daveyPeer{d: d, uid: strconv.FormatUint(uid, 10)}
	if r := d.call(map[string]any{"cmd": "new", "user": p.uid, "channel": strconv.FormatUint(channel, 10)}); r.Error != "" {
		d.t.Fatal(r.Error)
	}
	return p
}

func (p daveyPeer) handle(op int, payload []byte) ([]Outgoing, error) {
	r := p.d.call(map[string]any{"cmd": "op", "user": p.uid, "op": op, "data": payload})
	var out []Outgoing
	for _, o := range r.Out {
		out = append(out, Outgoing{Op: o.Op, Payload: o.Data, Binary: o.Binary})
	}
	if r.Error != "" {
		return out, errors.New("davey: " + r.Error)
	}
	return out, nil
}

func (p daveyPeer) encrypt(opus []byte) ([]byte, error) {
	r := p.d.call(map[string]any{"cmd": "encrypt", "user": p.uid, "data": opus})
	if r.Error != "" {
		return nil, errors.New("davey: " + r.Error)
	}
	return r.Data, nil
}

func (p daveyPeer) decrypt(from uint64, frame []byte) ([]byte, error) {
	r := p.d.call(map[string]any{"cmd": "decrypt", "user": p.uid, "from": strconv.FormatUint(from, 10), "data": frame})
	if r.Error != "" {
		return nil, errors.New("davey: " + r.Error)
	}
	return r.Data, nil
}

func (p daveyPeer) epoch() (uint64, bool) {
	r := p.d.call(map[string]any{"cmd": "state", "user": p.uid})
	if r.Epoch == nil || r.Status != 3 {
		return 0, false
	}
	e, err := strconv.ParseUint(*r.Epoch, 10, 64)
	return e, err == nil
}

// TestDaveyInterop forms groups between our Session and real davey sessions
// through the test gateway; in every epoch each member decrypts every other
// member's frames once and rejects replays.
func TestDaveyInterop(t *testing.T) {
	const channel = 1189187449416429608
	const (
		us    = 158049329150427136
		alice = 1000000000000000001 // davey
		bob   = 1000000000000000002 // davey
		carol = 1000000000000000003 // ours
		dave  = 1000000000000000004 // davey
	)
	d := startDavey(t)
	c := newCall(t, channel)
	step := func(name string, wantEpoch uint64, wantMembers int, committer uint64) {
		t.Helper()
		if c.gw.Stats().Committer != committer {
			t.Fatalf("%s: %d's commit won, want %d's", name, c.gw.Stats().Committer, committer)
		}
		if e := c.checkEpoch(); e != wantEpoch {
			t.Fatalf("%s: epoch %d, want %d", name, e, wantEpoch)
		}
		if n := len(c.peers); n != wantMembers {
			t.Fatalf("%s: %d members, want %d", name, n, wantMembers)
		}
		c.checkMedia(3)
		t.Logf("%s: epoch %d, roster %v, commits %d, dropped %d", name, wantEpoch, c.gw.Roster(), c.gw.Stats().Commits, c.gw.Stats().Dropped)
	}

	// davey creates the group; we join by its Welcome.
	c.prefer = alice
	c.join(alice, d.newPeer(alice, channel))
	c.join(us, newGoPeer(t, us, channel))
	step("davey commits, we join", 1, 2, alice)

	// A third member: both commit, ours reaches the gateway first, so davey
	// loses the race and recovers by processing our commit; bob (davey) joins
	// by our Welcome.
	c.prefer = us
	dropped := c.gw.Stats().Dropped
	c.join(bob, d.newPeer(bob, channel))
	step("we commit, davey joins", 2, 3, us)
	if c.gw.Stats().Dropped != dropped+1 {
		t.Fatalf("%d commits dropped, want 1 lost race", c.gw.Stats().Dropped-dropped)
	}

	// A fourth member (ours): davey wins, our commit is dropped and we recover.
	c.prefer = alice
	c.join(carol, newGoPeer(t, carol, channel))
	step("davey commits, we lose the race", 3, 4, alice)

	// Removals need an UpdatePath: ours first, then davey's. Execute
	// Transition is held back: davey already sends with the new epoch's key
	// (it switches on commit) while we still send with the old one, and each
	// side must decrypt the other across the transition.
	c.prefer = us
	c.hold = true
	before, err := c.peers[us].encrypt([]byte("old epoch"))
	if err != nil {
		t.Fatal(err)
	}
	c.leave(bob)
	if len(c.held) == 0 {
		t.Fatal("no op 22 was sent")
	}
	during, err := c.peers[us].encrypt([]byte("still old epoch"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range [][]byte{before, during} {
		for _, to := range []uint64{alice, carol} {
			if _, err := c.peers[to].decrypt(us, f); err != nil {
				t.Fatalf("%d decrypting our pre-execute frame: %v", to, err)
			}
		}
	}
	fromAlice, err := c.peers[alice].encrypt([]byte("new epoch"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.peers[us].decrypt(alice, fromAlice); err != nil || string(got) != "new epoch" {
		t.Fatalf("davey's new-epoch frame before our op 22: %q, %v", got, err)
	}
	c.release()
	step("we commit a removal", 4, 3, us)
	c.prefer = alice
	c.leave(carol)
	step("davey commits a removal", 5, 2, alice)

	// The last davey member leaves: the gateway resets us (op 24 epoch 1, op 21
	// transition 0) and we cannot encrypt until a new group forms.
	c.leave(alice)
	if _, err := c.peers[us].encrypt([]byte("alone")); !errors.Is(err, ErrNotReady) {
		t.Fatalf("encrypt after the sole-member reset: %v, want ErrNotReady", err)
	}
	// A new davey member: this time our pending epoch-0 group wins and davey
	// joins it by our Welcome.
	c.prefer = us
	c.join(dave, d.newPeer(dave, channel))
	step("we create the group, davey joins", 1, 2, us)
	if r := c.gw.Roster(); r[0] != us {
		t.Fatalf("roster %v: our group should have won", r)
	}
}

// TestDaveyInvalidCommitRecovery corrupts the commit our session receives:
// it must flag it (op 31), start over with a new key package, and be re-added.
func TestDaveyInvalidCommitRecovery(t *testing.T) {
	const channel = 42
	const us, alice, bob = 7, 8, 9
	d := startDavey(t)
	c := newCall(t, channel)
	c.prefer = alice
	c.join(alice, d.newPeer(alice, channel))
	c.join(us, newGoPeer(t, us, channel))
	c.checkMedia(1)
	var flagged bool
	c.mangle = func(m *davetest.Message) {
		if m.To == us && m.Op == 29 && !flagged {
			flagged = true
			m.Payload = bytes.Clone(m.Payload)
			m.Payload[len(m.Payload)-40] ^= 0x01 // inside the signature/tags
		}
	}
	c.join(bob, d.newPeer(bob, channel))
	if !flagged {
		t.Fatal("no commit reached our session")
	}
	if len(c.errs[us]) == 0 {
		t.Fatal("corrupted commit accepted")
	}
	// alice committed Add(bob); our op 31 made the gateway remove and re-add
	// us in the next epoch.
	if e := c.checkEpoch(); e != 3 {
		t.Fatalf("epoch %d, want 3", e)
	}
	c.checkMedia(3)
}

// TestDaveyRevoke has a user leave before its Add is committed: the gateway
// revokes the proposal (op 27 revoke), davey and we withdraw our commits, the
// stale commits are refused, and the group carries on at the same epoch.
func TestDaveyRevoke(t *testing.T) {
	const channel = 43
	const us, alice, carol, bob = 10, 11, 12, 13
	d := startDavey(t)
	c := newCall(t, channel)
	c.prefer = alice
	c.join(alice, d.newPeer(alice, channel))
	c.join(us, newGoPeer(t, us, channel))
	c.checkMedia(1)

	c.holdCommits = true
	c.join(carol, newGoPeer(t, carol, channel))
	if len(c.heldCommits) != 2 {
		t.Fatalf("%d commits for carol's Add, want one each from davey and us", len(c.heldCommits))
	}
	stale := c.heldCommits
	c.heldCommits = nil
	c.leave(carol) // revoke: no member may commit the Add any more
	if len(c.heldCommits) != 0 {
		t.Fatalf("%d commits after the revoke, want none", len(c.heldCommits))
	}
	c.holdCommits = false
	dropped := c.gw.Stats().Dropped
	for _, m := range stale {
		if out, err := c.gw.Receive(m.To, m.Op, m.Payload); err != nil || len(out) != 0 {
			t.Fatalf("stale commit from %d: %d messages, %v", m.To, len(out), err)
		}
	}
	if c.gw.Stats().Dropped != dropped+2 || c.checkEpoch() != 1 {
		t.Fatalf("stale commits not refused: dropped %d, epoch %d", c.gw.Stats().Dropped-dropped, c.gw.Epoch())
	}
	c.checkMedia(2)

	// The next change commits normally on top.
	c.prefer = us
	c.join(bob, d.newPeer(bob, channel))
	if e := c.checkEpoch(); e != 2 {
		t.Fatalf("epoch %d, want 2", e)
	}
	c.checkMedia(2)
}

// BenchmarkDaveyFrame measures @snazzah/davey (Rust, through N-API)
// encrypting and decrypting the same 160-byte frames, timed inside Node so
// the pipe is not counted: the reference for BenchmarkFrame.
func BenchmarkDaveyFrame(b *testing.B) {
	const channel, alice, bob = 3, 4, 5
	d := startDavey(b)
	c := newCall(b, channel)
	c.join(alice, d.newPeer(alice, channel))
	c.join(bob, d.newPeer(bob, channel))
	var enc, dec float64
	for b.Loop() {
		// Each iteration is one batch of frames timed by Node.
		r := d.call(map[string]any{"cmd": "bench", "user": strconv.Itoa(alice), "to": strconv.Itoa(bob), "n": 20000, "size": len(opusFrame)})
		if r.Error != "" {
			b.Fatal(r.Error)
		}
		enc, dec = r.EncryptNs, r.DecryptNs
	}
	b.ReportMetric(enc, "encrypt-ns/frame")
	b.ReportMetric(dec, "decrypt-ns/frame")
}

// TestDaveyRemoveAndAddInOneCommit: one commit removes a member and adds a
// joiner into its leaf, so a copath subtree of the committer holds only the
// new member. RFC 9420 §7.5 keeps that node on the filtered direct path (new
// members count toward the resolution; only the path secrets skip them), as
// OpenMLS does: each side must process the other's commit (a mismatch was
// seen as PathLengthMismatch in davey, and op 31 storms in the churn test).
func TestDaveyRemoveAndAddInOneCommit(t *testing.T) {
	const channel = 1189187449416429609
	const (
		us    = 158049329150427136
		alice = 1000000000000000001 // davey, leaf 1, leaves
		bob   = 1000000000000000002 // davey, leaf 2
		dave  = 1000000000000000004 // davey, joins into leaf 1
		erin  = 1000000000000000005 // ours, joins into leaf 1
	)
	d := startDavey(t)
	c := newCall(t, channel)
	c.prefer = us
	c.join(us, newGoPeer(t, us, channel))
	c.join(alice, d.newPeer(alice, channel))
	c.join(bob, d.newPeer(bob, channel))
	c.checkEpoch()
	if r := c.gw.Roster(); len(r) != 3 || r[0] != us || r[1] != alice || r[2] != bob {
		t.Fatalf("roster %v, want [us alice bob]", r)
	}
	// swap has leaver leave and joiner join before any commit, then lets
	// only committer's commit (its last, covering both proposals) through.
	swap := func(leaver, joiner uint64, p peer, committer uint64) {
		t.Helper()
		c.holdCommits = true
		c.leave(leaver)
		c.join(joiner, p)
		c.holdCommits = false
		var last *davetest.Message
		for i, m := range c.heldCommits {
			if m.To == committer {
				last = &c.heldCommits[i]
			}
		}
		c.heldCommits = nil
		if last == nil {
			t.Fatalf("%d made no commit", committer)
		}
		more, err := c.gw.Receive(last.To, last.Op, last.Payload)
		if err != nil {
			t.Fatal(err)
		}
		c.deliver(more)
		if st := c.gw.Stats(); st.Committer != committer {
			t.Fatalf("%d's commit won, want %d's", st.Committer, committer)
		}
		for uid, errs := range c.errs {
			if len(errs) > 0 {
				t.Fatalf("peer %d: %v", uid, errs)
			}
		}
		c.checkEpoch()
		c.checkMedia(2)
	}
	swap(alice, dave, d.newPeer(dave, channel), us)    // davey processes ours
	swap(dave, erin, newGoPeer(t, erin, channel), bob) // we process davey's
}
