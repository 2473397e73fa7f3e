package dave

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livecord/livecord/voice/mls"
)

func newGoPeer(t testing.TB, uid, channel uint64) goPeer {
	t.Helper()
	s, err := NewSession(Config{UserID: uid, ChannelID: channel})
	if err != nil {
		t.Fatal(err)
	}
	return goPeer{s}
}

func TestSessionsFormGroup(t *testing.T) {
	const channel = 1234567890123
	c := newCall(t, channel)
	c.join(1001, newGoPeer(t, 1001, channel))
	c.join(1002, newGoPeer(t, 1002, channel))
	if e := c.checkEpoch(); e != 1 {
		t.Fatalf("epoch %d after the first commit", e)
	}
	c.checkMedia(3)
	c.join(1003, newGoPeer(t, 1003, channel))
	if e := c.checkEpoch(); e != 2 {
		t.Fatalf("epoch %d after the third member", e)
	}
	c.checkMedia(3)
	c.leave(1002)
	if e := c.checkEpoch(); e != 3 {
		t.Fatalf("epoch %d after a removal", e)
	}
	c.checkMedia(3)
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// gateway is a hand-driven external sender for single-session tests.
type gateway struct {
	t    *testing.T
	key  *mls.SigningKey
	op25 []byte
}

func newGateway(t *testing.T) *gateway {
	k, err := mls.GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	es := mls.ExternalSender{SignatureKey: k.PublicKey(), Identity: []byte{0, 1, 1, 0}}
	return &gateway{t: t, key: k, op25: es.Marshal()}
}

// addProposal returns an op-27 append payload adding a fresh key package for uid.
func (g *gateway) addProposal(channel uint64, epoch uint64, uid uint64) (payload, ref []byte) {
	g.t.Helper()
	sk, err := mls.GenerateSignatureKey()
	if err != nil {
		g.t.Fatal(err)
	}
	kp, _, err := mls.NewKeyPackage(binary.BigEndian.AppendUint64(nil, uid), sk, mls.KeyPackageOptions{})
	if err != nil {
		g.t.Fatal(err)
	}
	msg, err := mls.ExternalAddProposal(binary.BigEndian.AppendUint64(nil, channel), epoch, g.key, kp)
	if err != nil {
		g.t.Fatal(err)
	}
	ref, err = mls.ProposalRef(msg)
	if err != nil {
		g.t.Fatal(err)
	}
	return append(append([]byte{0}, appendVarint(nil, len(msg))...), msg...), ref
}

func revokePayload(refs ...[]byte) []byte {
	var vec []byte
	for _, r := range refs {
		vec = append(appendVarint(vec, len(r)), r...)
	}
	return append(append([]byte{1}, appendVarint(nil, len(vec))...), vec...)
}

func mustHandle(t *testing.T, s *Session, op int, payload string) []Outgoing {
	t.Helper()
	out, err := s.HandleOp(op, []byte(payload))
	if err != nil {
		t.Fatalf("op %d: %v", op, err)
	}
	return out
}

func ops(out []Outgoing) []int {
	var o []int
	for _, m := range out {
		o = append(o, m.Op)
	}
	return o
}

func TestSessionKeyPackageParameters(t *testing.T) {
	const uid = 158049329150427136
	s, err := NewSession(Config{UserID: uid, ChannelID: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := mustHandle(t, s, opSessionDescription, `{"mode":"aead_aes256_gcm_rtpsize","secret_key":[1,2],"dave_protocol_version":1}`)
	if len(out) != 1 || out[0].Op != opKeyPackage || !out[0].Binary {
		t.Fatalf("op 4 produced %v, want one binary op 26", ops(out))
	}
	kp := out[0].Payload
	parsed, err := mls.UnmarshalKeyPackage(kp)
	if err != nil {
		t.Fatalf("op 26 is not a bare KeyPackage: %v", err)
	}
	if !bytes.Equal(parsed.Identity(), mustHex(t, "0231810709000000")) {
		t.Errorf("identity %x, want the big-endian user ID", parsed.Identity())
	}
	// The byte runs of davey's annotated key package (reference §4.2).
	for _, want := range []string{
		"00010002" + "4041",                // version 1, suite 2, then the 65-byte init key
		"0001" + "08" + "0231810709000000", // basic credential, BE user ID
		"020001" + "020002" + "00" + "00" + "020001" + // capabilities, no GREASE
			"01" + "0000000000000000" + "ffffffffffffffff" + "00", // key_package source, infinite lifetime, no extensions
	} {
		if !bytes.Contains(kp, mustHex(t, want)) {
			t.Errorf("key package lacks %s:\n%x", want, kp)
		}
	}
	if !bytes.HasPrefix(kp, mustHex(t, "000100024041")) {
		t.Errorf("key package starts %x", kp[:6])
	}
	// Every (re)join makes a new key package.
	out2 := mustHandle(t, s, opPrepareEpoch, `{"protocol_version":1,"epoch":1}`)
	if len(out2) != 1 || bytes.Equal(out2[0].Payload, kp) {
		t.Fatal("prepare epoch 1 did not produce a new key package")
	}
	if got := mustHandle(t, s, opPrepareEpoch, `{"protocol_version":1,"epoch":7}`); len(got) != 0 {
		t.Fatalf("prepare epoch 7 produced %v", ops(got))
	}
}

func TestSessionProposals(t *testing.T) {
	const channel, us, friend, stranger = 99, 1, 2, 3
	s, err := NewSession(Config{UserID: us, ChannelID: channel})
	if err != nil {
		t.Fatal(err)
	}
	g := newGateway(t)
	addFriend, _ := g.addProposal(channel, 0, friend)
	// Proposals before any group are ignored (libdave), as is the external sender's absence.
	if out, err := s.HandleOp(opProposals, addFriend); err != nil || len(out) != 0 {
		t.Fatalf("proposals without a group: %v, %v", ops(out), err)
	}
	mustHandle(t, s, opSessionDescription, `{"dave_protocol_version":1}`)
	mustHandle(t, s, opExternalSender, string(g.op25))
	mustHandle(t, s, opClientsConnect, `{"user_ids":["2"]}`)

	// A user the gateway never announced may not be added.
	addStranger, _ := g.addProposal(channel, 0, stranger)
	if out, err := s.HandleOp(opProposals, addStranger); err == nil || len(out) != 0 {
		t.Fatalf("add of an unrecognized user: %v, %v", ops(out), err)
	}
	// Wrong epoch.
	addLate, _ := g.addProposal(channel, 5, friend)
	if _, err := s.HandleOp(opProposals, addLate); err == nil {
		t.Fatal("proposal for epoch 5 accepted at epoch 0")
	}
	// Signed by someone else.
	other := newGateway(t)
	forged, _ := other.addProposal(channel, 0, friend)
	if _, err := s.HandleOp(opProposals, forged); err == nil {
		t.Fatal("proposal not signed by the external sender accepted")
	}
	// Op 13: a user who left is no longer recognised; op 11 brings them back.
	mustHandle(t, s, opClientDisconnect, `{"user_id":"2"}`)
	left, _ := g.addProposal(channel, 0, friend)
	if out, err := s.HandleOp(opProposals, left); err == nil || len(out) != 0 {
		t.Fatalf("add of a user disconnected by op 13: %v, %v", ops(out), err)
	}
	mustHandle(t, s, opClientsConnect, `{"user_ids":["2"]}`)

	addFriend, ref := g.addProposal(channel, 0, friend)
	out := mustHandle(t, s, opProposals, string(addFriend))
	if len(out) != 1 || out[0].Op != opCommitWelcome || !out[0].Binary {
		t.Fatalf("add produced %v, want op 28", ops(out))
	}
	commit, welcome, err := mls.SplitMessage(out[0].Payload)
	if err != nil || len(welcome) == 0 {
		t.Fatalf("op 28 = commit ‖ welcome: %v, %d welcome bytes", err, len(welcome))
	}
	// The stranger's rejected proposal is not in the commit: exactly one ref.
	if !bytes.Contains(commit, append([]byte{2, 32}, ref...)) {
		t.Fatal("commit does not reference the proposal")
	}

	// Revoking the only proposal withdraws the commit.
	if out := mustHandle(t, s, opProposals, string(revokePayload(ref))); len(out) != 0 {
		t.Fatalf("revoke produced %v", ops(out))
	}
	if _, err := s.HandleOp(opProposals, revokePayload(ref)); err == nil {
		t.Fatal("revoke of an unknown proposal accepted")
	}
	// The withdrawn commit is no longer ours to adopt: op 29 with it is ignored.
	tid := []byte{0, 9}
	if out, err := s.HandleOp(opAnnounceCommit, append(tid, commit...)); err != nil || len(out) != 0 {
		t.Fatalf("stale own commit: %v, %v", ops(out), err)
	}
	if _, ok := s.Epoch(); ok {
		t.Fatal("a group was established from a withdrawn commit")
	}

	// Our own commit announced: we adopt it, acknowledge the transition and
	// switch the sender on op 22.
	addFriend, _ = g.addProposal(channel, 0, friend)
	out = mustHandle(t, s, opProposals, string(addFriend))
	commit, _, _ = mls.SplitMessage(out[0].Payload)
	out = mustHandle(t, s, opAnnounceCommit, string(append(tid, commit...)))
	if len(out) != 1 || out[0].Op != opTransitionReady || string(out[0].Payload) != `{"transition_id":9}` {
		t.Fatalf("own commit produced %v %q", ops(out), out[0].Payload)
	}
	if e, ok := s.Epoch(); !ok || e != 1 {
		t.Fatalf("epoch %d, %v", e, ok)
	}
	if _, err := s.Encrypt(nil, []byte("opus")); !errors.Is(err, ErrNotReady) {
		t.Fatalf("encrypt before op 22: %v", err)
	}
	mustHandle(t, s, opExecuteTransition, `{"transition_id":9}`)
	f, err := s.Encrypt(nil, []byte("opus"))
	if err != nil || bytes.Contains(f, []byte("opus")) {
		t.Fatalf("encrypt after op 22: %x, %v", f, err)
	}
}

func TestSessionTransitions(t *testing.T) {
	clk := &clock{t: epoch0}
	const channel = 5
	c := newCall(t, channel)
	mk := func(uid uint64) goPeer {
		s, err := NewSession(Config{UserID: uid, ChannelID: channel, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		return goPeer{s}
	}
	a, b := mk(1), mk(2)
	c.join(1, a)
	c.join(2, b)
	c.checkMedia(1)

	// Silence always travels in clear; DAVE frames never do.
	if f, err := a.s.Encrypt(nil, silenceFrame); err != nil || !bytes.Equal(f, silenceFrame) {
		t.Fatalf("silence: %x, %v", f, err)
	}
	if _, err := b.s.Decrypt(nil, 1, []byte("plain opus")); err == nil {
		t.Fatal("plain frame accepted under DAVE")
	}

	// Downgrade to version 0: prepare (op 21, ack op 23), then execute (op 22).
	out := mustHandle(t, b.s, opPrepareTransition, `{"protocol_version":0,"transition_id":12}`)
	if len(out) != 1 || out[0].Op != opTransitionReady {
		t.Fatalf("prepare downgrade: %v", ops(out))
	}
	if got, err := b.s.Decrypt(nil, 1, []byte("plain opus")); err != nil || string(got) != "plain opus" {
		t.Fatalf("plain frame during a pending downgrade: %q, %v", got, err)
	}
	mustHandle(t, b.s, opExecuteTransition, `{"transition_id":12}`)
	if b.s.ProtocolVersion() != 0 {
		t.Fatal("version not 0 after the downgrade")
	}
	if f, err := b.s.Encrypt(nil, []byte("opus")); err != nil || string(f) != "opus" {
		t.Fatalf("passthrough encrypt: %q, %v", f, err)
	}

	// Upgrade again (op 24 epoch 1): a new key package; plain frames are
	// accepted until the first encrypted transition executes, and 10 s more.
	out = mustHandle(t, b.s, opPrepareEpoch, `{"protocol_version":1,"epoch":1}`)
	if len(out) != 1 || out[0].Op != opKeyPackage {
		t.Fatalf("upgrade: %v", ops(out))
	}
	if f, err := b.s.Encrypt(nil, []byte("opus")); err != nil || string(f) != "opus" {
		t.Fatalf("sender before the upgrade executes: %q, %v", f, err)
	}
	clk.t = clk.t.Add(time.Minute)
	if _, err := b.s.Decrypt(nil, 1, []byte("plain opus")); err != nil {
		t.Fatalf("plain frame before the upgrade executes: %v", err)
	}
	b.s.mu.Lock()
	var ignored []Outgoing
	b.s.prepareTransition(0, transition{version: 1, ratchet: newKeyRatchet(make([]byte, 16)), prepared: clk.t}, &ignored)
	b.s.mu.Unlock()
	if f, err := b.s.Encrypt(nil, []byte("opus")); err != nil || bytes.Contains(f, []byte("opus")) {
		t.Fatalf("sender after the upgrade: %q, %v", f, err)
	}
	clk.t = clk.t.Add(9 * time.Second)
	if _, err := b.s.Decrypt(nil, 1, []byte("plain opus")); err != nil {
		t.Fatalf("plain frame 9 s after the upgrade: %v", err)
	}
	clk.t = clk.t.Add(2 * time.Second)
	if _, err := b.s.Decrypt(nil, 1, []byte("plain opus")); err == nil {
		t.Fatal("plain frame 11 s after the upgrade accepted")
	}
}

func TestSessionExecuteFallback(t *testing.T) {
	clk := &clock{t: epoch0}
	const channel = 6
	c := newCall(t, channel)
	peers := map[uint64]goPeer{}
	for uid := uint64(1); uid <= 3; uid++ {
		s, err := NewSession(Config{UserID: uid, ChannelID: channel, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		peers[uid] = goPeer{s}
	}
	c.join(1, peers[1])
	c.join(2, peers[2])
	c.hold = true // op 22 never comes
	c.join(3, peers[3])
	a := peers[1].s
	if len(a.transitions) != 1 {
		t.Fatalf("%d prepared transitions, want 1", len(a.transitions))
	}
	old := a.enc.ratchet
	if _, err := a.Encrypt(nil, []byte("x")); err != nil || a.enc.ratchet != old {
		t.Fatalf("switched before the fallback delay: %v", err)
	}
	clk.t = clk.t.Add(executeFallback)
	f, err := a.Encrypt(nil, []byte("x"))
	if err != nil || a.enc.ratchet == old || len(a.transitions) != 0 {
		t.Fatalf("no fallback switch after %v: %v", executeFallback, err)
	}
	// The newcomer, who only has the new epoch, decrypts it.
	if got, err := peers[3].s.Decrypt(nil, 1, f); err != nil || string(got) != "x" {
		t.Fatalf("newcomer: %q, %v", got, err)
	}
	// A late op 22 changes nothing now.
	c.release()
	if a.enc.ratchet == old || a.enc.nonce != 1 {
		t.Fatalf("late op 22 reset the sender (nonce %d)", a.enc.nonce)
	}
}

func TestSessionIgnoresAndRejects(t *testing.T) {
	s, err := NewSession(Config{UserID: 1, ChannelID: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []int{0, 2, 3, 5, 6, 8, 9, 12, 14, 18, 20, 99} {
		if out, err := s.HandleOp(op, []byte(`{"anything":1}`)); err != nil || len(out) != 0 {
			t.Errorf("op %d: %v, %v", op, ops(out), err)
		}
	}
	for _, tc := range []struct {
		op      int
		payload string
	}{
		{opSessionDescription, `not json`},
		{opSessionDescription, `{"dave_protocol_version":2}`},
		{opClientsConnect, `{"user_ids":["x"]}`},
		{opExternalSender, "\x40"},
		{opAnnounceCommit, "\x00"},
		{opWelcome, ""},
	} {
		if _, err := s.HandleOp(tc.op, []byte(tc.payload)); err == nil {
			t.Errorf("op %d %q accepted", tc.op, tc.payload)
		}
	}
	// Before DAVE is selected, frames pass in both directions.
	if f, err := s.Encrypt(nil, []byte("opus")); err != nil || string(f) != "opus" {
		t.Fatalf("encrypt at version 0: %q, %v", f, err)
	}
	if f, err := s.Decrypt(nil, 7, []byte("opus")); err != nil || string(f) != "opus" {
		t.Fatalf("decrypt at version 0: %q, %v", f, err)
	}
}

// FuzzHandleOp feeds garbage to the binary DAVE ops of a session with a
// pending group and an established one: errors are fine, panics are not.
func FuzzHandleOp(f *testing.F) {
	g := &gateway{}
	k, err := mls.GenerateSignatureKey()
	if err != nil {
		f.Fatal(err)
	}
	g.key = k
	es := mls.ExternalSender{SignatureKey: k.PublicKey(), Identity: []byte{1}}
	g.op25 = es.Marshal()
	f.Add(uint8(opExternalSender), g.op25)
	f.Add(uint8(opProposals), []byte{0, 0})
	f.Add(uint8(opProposals), []byte{1, 0x21, 0x20})
	f.Add(uint8(opAnnounceCommit), []byte{0, 1, 0, 1, 0, 1})
	f.Add(uint8(opWelcome), []byte{0, 1, 0, 2, 0x40, 0x98})
	f.Add(uint8(opProposals), []byte{0, 0x40, 0x05, 0, 1, 0, 1, 8})
	f.Add(uint8(opAnnounceCommit|0x80), []byte{0, 1, 0, 1, 0, 1, 8, 0, 0, 0, 0, 0, 0, 0, 2})
	f.Add(uint8(opProposals|0x80), []byte{1, 0x21, 0x20})
	f.Fuzz(func(t *testing.T, op uint8, payload []byte) {
		var s *Session
		if op&0x80 != 0 {
			// An established member of a two-member group.
			c := newCall(t, 2)
			p := newGoPeer(t, 1, 2)
			c.join(1, p)
			c.join(3, newGoPeer(t, 3, 2))
			s = p.s
		} else {
			var err error
			if s, err = NewSession(Config{UserID: 1, ChannelID: 2}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.HandleOp(opSessionDescription, []byte(`{"dave_protocol_version":1}`)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.HandleOp(opExternalSender, g.op25); err != nil {
				t.Fatal(err)
			}
		}
		for _, o := range []int{opExternalSender, opProposals, opAnnounceCommit, opWelcome} {
			if int(op&0x7f)%4 == o%4 {
				_, _ = s.HandleOp(o, payload)
			}
		}
		_, _ = s.Decrypt(nil, 3, payload)
	})
}

// TestSessionCommitWithoutProposals: an established member that got no
// proposals this epoch ignores a commit, as libdave's CanProcessCommit does
// (no op 31, no reset); so does one for another group. A commit it cannot
// follow after proposals arrived is flagged (op 31) and the member starts over.
func TestSessionCommitWithoutProposals(t *testing.T) {
	const channel = 8
	c := newCall(t, channel)
	a, b := newGoPeer(t, 1, channel), newGoPeer(t, 2, channel)
	c.join(1, a)
	c.join(2, b)
	c.checkMedia(1)
	out, err := b.s.HandleOp(opAnnounceCommit, []byte{0, 4, 0, 1, 0, 1})
	if err != nil || len(out) != 0 {
		t.Fatalf("commit with no proposals stored: %v, %v; want it ignored", ops(out), err)
	}
	if e, ok := b.s.Epoch(); !ok || e != 1 {
		t.Fatalf("left the group over an ignored commit: epoch %d, %v", e, ok)
	}

	// Another group's commit, after proposals: ignored too.
	other := newCall(t, channel+1)
	x, y := newGoPeer(t, 1, channel+1), newGoPeer(t, 2, channel+1)
	other.holdCommits = true
	other.join(1, x)
	other.join(2, y)
	if len(other.heldCommits) == 0 {
		t.Fatal("no commit in the other call")
	}
	foreign, _, err := mls.SplitMessage(other.heldCommits[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	c.holdCommits = true
	c.join(3, newGoPeer(t, 3, channel)) // b gets (and commits) the Add of 3
	if out, err := b.s.HandleOp(opAnnounceCommit, append([]byte{0, 5}, foreign...)); err != nil || len(out) != 0 {
		t.Fatalf("another group's commit: %v, %v; want it ignored", ops(out), err)
	}

	// A commit of this group that b cannot follow: op 31 and a new key package.
	out, err = b.s.HandleOp(opAnnounceCommit, []byte{0, 6, 0, 1, 0, 1})
	if err == nil {
		t.Fatal("no error")
	}
	if got := ops(out); len(got) != 2 || got[0] != opInvalidCommitWelcom || got[1] != opKeyPackage {
		t.Fatalf("sent %v, want [31 26]", got)
	}
	if string(out[0].Payload) != `{"transition_id":6}` {
		t.Fatalf("op 31 payload %s", out[0].Payload)
	}
	if _, ok := b.s.Epoch(); ok {
		t.Fatal("still in the old group")
	}
	// Having flagged the group, b no longer sends under its key.
	if f, err := b.s.Encrypt(nil, []byte("opus")); !errors.Is(err, ErrNotReady) {
		t.Fatalf("encrypt after op 31: %x, %v; want ErrNotReady", f, err)
	}
}

// TestSessionWelcomeChecks joins by a Welcome at transition 0 (executed at
// once), and refuses one whose group names another external sender.
func TestSessionWelcomeChecks(t *testing.T) {
	const channel, us, creator = 77, 1, 2
	welcomeFor := func(g *gateway, kp []byte) []byte {
		t.Helper()
		sk, err := mls.GenerateSignatureKey()
		if err != nil {
			t.Fatal(err)
		}
		_, own, err := mls.NewKeyPackage(binary.BigEndian.AppendUint64(nil, creator), sk, mls.KeyPackageOptions{})
		if err != nil {
			t.Fatal(err)
		}
		es, err := mls.UnmarshalExternalSender(g.op25)
		if err != nil {
			t.Fatal(err)
		}
		grp, err := mls.NewGroup(binary.BigEndian.AppendUint64(nil, channel), own, []mls.ExternalSender{*es})
		if err != nil {
			t.Fatal(err)
		}
		joiner, err := mls.UnmarshalKeyPackage(kp)
		if err != nil {
			t.Fatal(err)
		}
		prop, err := mls.ExternalAddProposal(grp.GroupID(), 0, g.key, joiner)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := grp.ProcessProposal(prop); err != nil {
			t.Fatal(err)
		}
		_, welcome, err := grp.Commit()
		if err != nil {
			t.Fatal(err)
		}
		return welcome
	}
	g, other := newGateway(t), newGateway(t)
	s, err := NewSession(Config{UserID: us, ChannelID: channel})
	if err != nil {
		t.Fatal(err)
	}
	out := mustHandle(t, s, opSessionDescription, `{"dave_protocol_version":1}`)
	mustHandle(t, s, opExternalSender, string(g.op25))

	// A group whose external sender is not the gateway's: op 31, new key package.
	bad := welcomeFor(other, out[0].Payload)
	out, err = s.HandleOp(opWelcome, append([]byte{0, 3}, bad...))
	if err == nil || !strings.Contains(err.Error(), "external sender") ||
		len(out) != 2 || out[0].Op != opInvalidCommitWelcom || out[1].Op != opKeyPackage {
		t.Fatalf("foreign welcome: %v, %v", ops(out), err)
	}
	// The right one, at transition 0: no op 23, and the sender is ready at once.
	good := welcomeFor(g, out[1].Payload)
	out = mustHandle(t, s, opWelcome, string(append([]byte{0, 0}, good...)))
	if len(out) != 0 {
		t.Fatalf("welcome at transition 0 sent %v", ops(out))
	}
	if e, ok := s.Epoch(); !ok || e != 1 {
		t.Fatalf("epoch %d, %v", e, ok)
	}
	if _, err := s.Encrypt(nil, []byte("opus")); err != nil {
		t.Fatalf("encrypt right after a transition-0 welcome: %v", err)
	}
	// A second Welcome while in the group is refused too.
	if out, err := s.HandleOp(opWelcome, append([]byte{0, 4}, good...)); err == nil || len(out) != 2 {
		t.Fatalf("welcome while in a group: %v, %v", ops(out), err)
	}
}
