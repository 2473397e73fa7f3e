package dave

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/livecord/livecord/voice/mls"
)

// TestSessionUsersOutliveSession: the users the server announced (op 11)
// before it selected the protocol (op 4, which starts a new session) are
// still recognised by the new session when their Add proposals come, as
// @discordjs/voice keeps its set from op 2 on; Ready (op 2) starts it afresh.
func TestSessionUsersOutliveSession(t *testing.T) {
	const channel, us, friend = 31, 1, 2
	users := NewUsers()
	old, err := NewSession(Config{UserID: us, ChannelID: channel, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	mustHandle(t, old, opClientsConnect, `{"user_ids":["2"]}`)
	// Op 4: the connection starts a new session, with the same set.
	s, err := NewSession(Config{UserID: us, ChannelID: channel, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	mustHandle(t, s, opSessionDescription, `{"dave_protocol_version":1}`)
	g := newGateway(t)
	mustHandle(t, s, opExternalSender, string(g.op25))
	add, _ := g.addProposal(channel, 0, friend)
	out := mustHandle(t, s, opProposals, string(add))
	if len(out) != 1 || out[0].Op != opCommitWelcome {
		t.Fatalf("add of a user announced before op 4: %v, want op 28", ops(out))
	}
	// A new gateway session (op 2) forgets who was there.
	mustHandle(t, s, opReady, `{"ssrc":1}`)
	if users.Contains(friend) {
		t.Fatal("op 2 kept the previous gateway session's users")
	}
}

// offCurve is an uncompressed P-256 encoding of (1, 1), which is not on the curve.
func offCurve() []byte {
	b := make([]byte, 65)
	b[0], b[32], b[64] = 4, 1, 1
	return b
}

// keyPackageWithBadInitKey is a key package for uid, validly signed, whose
// HPKE init key is a point off the curve.
func keyPackageWithBadInitKey(t *testing.T, uid uint64) *mls.KeyPackage {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	sk, err := mls.ParseSigningKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	kp, _, err := mls.NewKeyPackage(binary.BigEndian.AppendUint64(nil, uid), sk, mls.KeyPackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := kp.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// version, suite, then the init key as a 65-byte vector (prefix 40 41).
	if !bytes.Equal(b[4:6], []byte{0x40, 0x41}) {
		t.Fatalf("key package starts %x", b[:6])
	}
	copy(b[6:71], offCurve())
	// The KeyPackageTBS is all but the trailing signature vector; sign it anew.
	var tbs []byte
	for n := 64; n <= 72; n++ {
		if i := len(b) - n - 2; b[i] == 0x40 && b[i+1] == byte(n) {
			tbs = b[:i]
			break
		}
	}
	if tbs == nil {
		t.Fatal("signature not found")
	}
	label := []byte("MLS 1.0 KeyPackageTBS")
	content := append(appendVarint(nil, len(label)), label...)
	content = append(appendVarint(content, len(tbs)), tbs...)
	d := sha256.Sum256(content)
	sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	forged, err := mls.UnmarshalKeyPackage(append(appendVarint(bytes.Clone(tbs), len(sig)), sig...))
	if err != nil {
		t.Fatal(err)
	}
	return forged
}

// TestSessionRejectsInvalidProposalAlone: one op 27 adds two announced users
// and, between them, a key package whose init key is not a P-256 point. The
// session refuses that proposal alone (and says so) and commits the other
// two: its Welcome admits both honest joiners.
func TestSessionRejectsInvalidProposalAlone(t *testing.T) {
	const channel, us = 41, 1
	s, err := NewSession(Config{UserID: us, ChannelID: channel})
	if err != nil {
		t.Fatal(err)
	}
	mustHandle(t, s, opSessionDescription, `{"dave_protocol_version":1}`)
	g := newGateway(t)
	mustHandle(t, s, opExternalSender, string(g.op25))
	mustHandle(t, s, opClientsConnect, `{"user_ids":["2","3","4"]}`)
	gid := binary.BigEndian.AppendUint64(nil, channel)
	var vec []byte
	joiners := map[uint64]*mls.KeyPackagePrivate{}
	for _, uid := range []uint64{2, 3, 4} {
		var kp *mls.KeyPackage
		if uid == 3 {
			kp = keyPackageWithBadInitKey(t, uid)
		} else {
			sk, err := mls.GenerateSignatureKey()
			if err != nil {
				t.Fatal(err)
			}
			var priv *mls.KeyPackagePrivate
			if kp, priv, err = mls.NewKeyPackage(binary.BigEndian.AppendUint64(nil, uid), sk, mls.KeyPackageOptions{}); err != nil {
				t.Fatal(err)
			}
			joiners[uid] = priv
		}
		msg, err := mls.ExternalAddProposal(gid, 0, g.key, kp)
		if err != nil {
			t.Fatal(err)
		}
		vec = append(vec, msg...)
	}
	out, err := s.HandleOp(opProposals, append(append([]byte{0}, appendVarint(nil, len(vec))...), vec...))
	if err == nil {
		t.Fatal("the invalid key package went unreported")
	}
	if len(out) != 1 || out[0].Op != opCommitWelcome {
		t.Fatalf("sent %v, want op 28 for the honest joiners", ops(out))
	}
	commit, welcome, err := mls.SplitMessage(out[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := mls.InspectCommit(commit); err != nil || len(h.ProposalRefs) != 2 {
		t.Fatalf("commit: %+v, %v; want the 2 honest proposals", h, err)
	}
	for uid, priv := range joiners {
		grp, err := mls.JoinFromWelcome(welcome, priv, nil)
		if err != nil {
			t.Fatalf("joiner %d: %v", uid, err)
		}
		if n := len(grp.Members()); n != 3 {
			t.Fatalf("joiner %d sees %d members, want 3", uid, n)
		}
	}
}

// TestSessionDowngradeExpiresReceiveKeys: after a transition to protocol
// version 0 executes, frames under the last group's keys still decrypt for
// up to 10 s and never after.
func TestSessionDowngradeExpiresReceiveKeys(t *testing.T) {
	clk := &clock{t: epoch0}
	const channel = 51
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
	var frames [][]byte
	for i := range 2 {
		f, err := a.s.Encrypt(nil, []byte{'o', 'p', byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	mustHandle(t, b.s, opPrepareTransition, `{"protocol_version":0,"transition_id":7}`)
	mustHandle(t, b.s, opExecuteTransition, `{"transition_id":7}`)
	clk.t = clk.t.Add(9 * time.Second)
	if got, err := b.s.Decrypt(nil, 1, frames[0]); err != nil || string(got) != "op\x00" {
		t.Fatalf("old-key frame 9 s after the downgrade: %q, %v", got, err)
	}
	clk.t = clk.t.Add(2 * time.Second)
	if got, err := b.s.Decrypt(nil, 1, frames[1]); err == nil {
		t.Fatalf("old-key frame 11 s after the downgrade decrypted to %q", got)
	}
	// Plain frames pass, as version 0 wants.
	if got, err := b.s.Decrypt(nil, 1, []byte("plain")); err != nil || string(got) != "plain" {
		t.Fatalf("plain frame after the downgrade: %q, %v", got, err)
	}
}

// TestSessionWelcomeWatchdog: a session with others in the call that is
// never added to their group (the server lost its proposal) sends a fresh
// key package after WelcomeTimeout, and after as long again reports
// ErrNotWelcomed; alone in the call, or once welcomed, it waits quietly.
func TestSessionWelcomeWatchdog(t *testing.T) {
	clk := &clock{t: epoch0}
	const channel, timeout = 61, 3 * time.Second
	s, err := NewSession(Config{UserID: 1, ChannelID: channel, Now: clk.now, WelcomeTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	first := mustHandle(t, s, opSessionDescription, `{"dave_protocol_version":1}`)
	g := newGateway(t)
	mustHandle(t, s, opExternalSender, string(g.op25))
	// Alone: nobody can add us; no deadline.
	clk.t = clk.t.Add(time.Hour)
	if out, err := s.Tick(); err != nil || len(out) != 0 || !s.WatchdogDeadline().IsZero() {
		t.Fatalf("alone: %v, %v, deadline %v", ops(out), err, s.WatchdogDeadline())
	}
	mustHandle(t, s, opClientsConnect, `{"user_ids":["2"]}`)
	if d := s.WatchdogDeadline(); !d.Equal(clk.t.Add(timeout)) {
		t.Fatalf("deadline %v, want %v after op 11", d, clk.t.Add(timeout))
	}
	clk.t = clk.t.Add(timeout - time.Millisecond)
	if out, err := s.Tick(); err != nil || len(out) != 0 {
		t.Fatalf("before the timeout: %v, %v", ops(out), err)
	}
	clk.t = clk.t.Add(time.Millisecond)
	out, err := s.Tick()
	if err != nil || len(out) != 1 || out[0].Op != opKeyPackage || bytes.Equal(out[0].Payload, first[0].Payload) {
		t.Fatalf("at the timeout: %v, %v; want a fresh op 26", ops(out), err)
	}
	clk.t = clk.t.Add(timeout)
	if out, err := s.Tick(); !errors.Is(err, ErrNotWelcomed) || len(out) != 0 {
		t.Fatalf("after a second timeout: %v, %v; want ErrNotWelcomed", ops(out), err)
	}

	// Welcomed: the watchdog stands down.
	c := newCall(t, channel)
	a := newGoPeer(t, 1, channel)
	a.s.cfg.Now, a.s.now = clk.now, clk.now
	c.join(1, a)
	c.join(2, newGoPeer(t, 2, channel))
	if _, ok := a.s.Epoch(); !ok || !a.s.WatchdogDeadline().IsZero() {
		t.Fatalf("in the group: deadline %v", a.s.WatchdogDeadline())
	}
	clk.t = clk.t.Add(time.Hour)
	if out, err := a.s.Tick(); err != nil || len(out) != 0 {
		t.Fatalf("in the group: %v, %v", ops(out), err)
	}
}
