package mls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// gateway plays DAVE's voice gateway: the group's external sender.
type gateway struct {
	t       testing.TB
	sig     *SigningKey
	groupID []byte
}

func newGateway(t testing.TB) *gateway {
	sig, err := GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	return &gateway{t: t, sig: sig, groupID: []byte{0, 0, 0, 0, 0, 0, 0x30, 0x39}}
}

func (gw *gateway) sender() ExternalSender {
	return ExternalSender{SignatureKey: gw.sig.PublicKey(), Identity: []byte{0, 1, 1, 0}}
}

func (gw *gateway) add(epoch uint64, kp *KeyPackage) []byte {
	m, err := ExternalAddProposal(gw.groupID, epoch, gw.sig, kp)
	if err != nil {
		gw.t.Fatal(err)
	}
	return m
}

func (gw *gateway) remove(epoch uint64, leaf uint32) []byte {
	m, err := ExternalRemoveProposal(gw.groupID, epoch, gw.sig, leaf)
	if err != nil {
		gw.t.Fatal(err)
	}
	return m
}

type testMember struct {
	id   []byte
	sig  *SigningKey
	kp   *KeyPackage
	priv *KeyPackagePrivate
	g    *Group
}

func newTestMember(t testing.TB, uid uint64) *testMember {
	sig, err := GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	m := &testMember{id: binary.BigEndian.AppendUint64(nil, uid), sig: sig}
	m.freshKeyPackage(t)
	return m
}

func (m *testMember) freshKeyPackage(t testing.TB) {
	var err error
	if m.kp, m.priv, err = NewKeyPackage(m.id, m.sig, KeyPackageOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (m *testMember) pending(t testing.TB, gw *gateway) {
	var err error
	if m.g, err = NewGroup(gw.groupID, m.priv, []ExternalSender{gw.sender()}); err != nil {
		t.Fatal(err)
	}
	m.g.SetPolicy(Policy{AddRemoveOnly: true, ByReferenceOnly: true, UniqueIdentities: true})
}

func (m *testMember) propose(t testing.TB, msgs ...[]byte) {
	t.Helper()
	for _, msg := range msgs {
		if _, err := m.g.ProcessProposal(msg); err != nil {
			t.Fatal(err)
		}
	}
}

func (m *testMember) commit(t testing.TB) (commit, welcome []byte) {
	t.Helper()
	c, w, err := m.g.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

func (m *testMember) join(t testing.TB, welcome []byte) {
	t.Helper()
	g, err := JoinFromWelcome(welcome, m.priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.SetPolicy(Policy{AddRemoveOnly: true, ByReferenceOnly: true, UniqueIdentities: true})
	m.g = g
}

func (m *testMember) process(t testing.TB, commit []byte) {
	t.Helper()
	if err := m.g.ProcessCommit(commit); err != nil {
		t.Fatal(err)
	}
}

// agree checks all members share epoch, roster and exporter output.
func agree(t *testing.T, epoch uint64, ms ...*testMember) {
	t.Helper()
	ref, err := ms[0].g.Export("Discord Secure Frames v0", []byte{1, 2, 3, 4, 5, 6, 7, 8}, 16)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.g.Epoch() != epoch {
			t.Fatalf("member %x at epoch %d, want %d", m.id, m.g.Epoch(), epoch)
		}
		got, _ := m.g.Export("Discord Secure Frames v0", []byte{1, 2, 3, 4, 5, 6, 7, 8}, 16)
		if !bytes.Equal(got, ref) {
			t.Fatalf("member %x exports a different secret", m.id)
		}
		if len(m.g.Members()) != len(ms) {
			t.Fatalf("member %x sees %d members, want %d", m.id, len(m.g.Members()), len(ms))
		}
		if !bytes.Equal(m.g.EpochAuthenticator(), ms[0].g.EpochAuthenticator()) {
			t.Fatalf("member %x has a different epoch authenticator", m.id)
		}
	}
}

// TestDAVELifecycle follows the DAVE flow of §4.3: pending groups, a commit
// race at epoch 0, a third member, a removal with UpdatePath, an empty commit.
func TestDAVELifecycle(t *testing.T) {
	gw := newGateway(t)
	a, b, c := newTestMember(t, 1), newTestMember(t, 2), newTestMember(t, 3)
	a.pending(t, gw)
	b.pending(t, gw)

	// Epoch 0: both pending members commit the gateway's Add; A wins.
	a.propose(t, gw.add(0, b.kp))
	b.propose(t, gw.add(0, a.kp))
	commitA, welcomeA := a.commit(t)
	b.commit(t)
	if welcomeA == nil {
		t.Fatal("add commit produced no welcome")
	}
	a.process(t, commitA) // own commit: adopts the pending state
	b.join(t, welcomeA)
	agree(t, 1, a, b)
	if b.g.OwnLeaf() != 1 || a.g.OwnLeaf() != 0 {
		t.Fatalf("leaves a=%d b=%d", a.g.OwnLeaf(), b.g.OwnLeaf())
	}
	ext, err := b.g.ExternalSenders()
	if err != nil || len(ext) != 1 || !bytes.Equal(ext[0].SignatureKey, gw.sig.PublicKey()) {
		t.Fatalf("external senders %v, %v", ext, err)
	}

	// Epoch 1: Add C; both commit, B wins, A's pending commit is discarded.
	addC := gw.add(1, c.kp)
	a.propose(t, addC)
	b.propose(t, addC)
	a.commit(t)
	commitB, welcomeB := b.commit(t)
	a.process(t, commitB)
	b.process(t, commitB)
	c.join(t, welcomeB)
	agree(t, 2, a, b, c)

	// Epoch 2: remove B; C commits with an UpdatePath.
	rm := gw.remove(2, b.g.OwnLeaf())
	for _, m := range []*testMember{a, b, c} {
		m.propose(t, rm)
	}
	commitC, welcomeC := c.commit(t)
	if welcomeC != nil {
		t.Fatal("remove-only commit produced a welcome")
	}
	if m, _ := parseMLSMessage(commitC); m.public.content.commit.path == nil {
		t.Fatal("remove commit has no UpdatePath")
	}
	a.process(t, commitC)
	c.process(t, commitC)
	if err := b.g.ProcessCommit(commitC); !errors.Is(err, ErrRemoved) {
		t.Fatalf("removed member: %v", err)
	}
	agree(t, 3, a, c)

	// Epoch 3: B rejoins with a new key package, A commits, then an empty commit.
	b.freshKeyPackage(t)
	addB := gw.add(3, b.kp)
	a.propose(t, addB)
	c.propose(t, addB)
	commitA, welcomeA = a.commit(t)
	if err := a.g.MergePending(); err != nil {
		t.Fatal(err)
	}
	c.process(t, commitA)
	b.join(t, welcomeA)
	agree(t, 4, a, b, c)
	empty, _ := b.commit(t)
	b.process(t, empty)
	a.process(t, empty)
	c.process(t, empty)
	agree(t, 5, a, b, c)
}

func TestCommitRejections(t *testing.T) {
	gw := newGateway(t)
	a, b, c := newTestMember(t, 1), newTestMember(t, 2), newTestMember(t, 3)
	a.pending(t, gw)
	a.propose(t, gw.add(0, b.kp))
	commit, welcome := a.commit(t)
	a.process(t, commit)
	b.join(t, welcome)

	addC := gw.add(1, c.kp)
	a.propose(t, addC)
	good, _ := a.commit(t)
	a.g.ClearPending()

	tampered := bytes.Clone(good)
	tampered[len(tampered)-40] ^= 1 // inside the confirmation tag
	other := newGateway(t)
	other.groupID = gw.groupID
	cases := []struct {
		name string
		run  func() error
	}{
		{"commit referencing unknown proposal", func() error { return b.g.ProcessCommit(good) }},
		{"tampered commit", func() error {
			b.propose(t, addC)
			return b.g.ProcessCommit(tampered)
		}},
		{"proposal from unknown external signer", func() error {
			_, err := b.g.ProcessProposal(other.add(1, c.kp))
			return err
		}},
		{"proposal for wrong epoch", func() error {
			_, err := b.g.ProcessProposal(gw.add(0, c.kp))
			return err
		}},
		{"remove of blank leaf", func() error {
			_, err := b.g.ProcessProposal(gw.remove(1, 7))
			return err
		}},
		{"revoke unknown ref", func() error { return b.g.RevokeProposal(make([]byte, 32)) }},
		{"welcome for another key package", func() error {
			_, err := JoinFromWelcome(welcome, c.priv, nil)
			return err
		}},
		{"garbage commit", func() error { return b.g.ProcessCommit([]byte{0, 1, 0, 1, 0xff}) }},
	}
	for _, tc := range cases {
		before := b.g.EpochAuthenticator()
		if err := tc.run(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if !bytes.Equal(before, b.g.EpochAuthenticator()) || b.g.Epoch() != 1 {
			t.Errorf("%s: state changed", tc.name)
		}
	}
	// The untampered commit still applies after the failures.
	if err := b.g.ProcessCommit(good); err != nil {
		t.Fatal(err)
	}
	if b.g.Epoch() != 2 {
		t.Fatalf("epoch %d", b.g.Epoch())
	}
}

func TestRevokeProposal(t *testing.T) {
	gw := newGateway(t)
	a, b := newTestMember(t, 1), newTestMember(t, 2)
	a.pending(t, gw)
	msg := gw.add(0, b.kp)
	p, err := a.g.ProcessProposal(msg)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ProposalRef(msg)
	if err != nil || !bytes.Equal(ref, p.Ref) {
		t.Fatalf("ProposalRef %x, ProcessProposal ref %x (%v)", ref, p.Ref, err)
	}
	if p.Type != ProposalAdd || !bytes.Equal(p.KeyPackage.Identity(), b.id) || !p.External {
		t.Fatalf("proposal %+v", p)
	}
	if err := a.g.RevokeProposal(ref); err != nil {
		t.Fatal(err)
	}
	if len(a.g.Proposals()) != 0 {
		t.Fatal("revoked proposal still queued")
	}
}

// TestKeyPackageLayout checks DAVE's exact key package parameters (§4.2).
func TestKeyPackageLayout(t *testing.T) {
	m := newTestMember(t, 158049329150427136)
	b, err := m.kp.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0, 1, 0, 2, 0x40, 0x41, 4}) {
		t.Fatalf("prefix %x", b[:8])
	}
	want := []byte{0, 1, 8, 2, 0x31, 0x81, 7, 9, 0, 0, 0, // basic credential, BE user id
		2, 0, 1, 2, 0, 2, 0, 0, 2, 0, 1, // capabilities
		1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // key_package + lifetime
		0} // no leaf extensions
	if !bytes.Contains(b, want) {
		t.Fatalf("key package lacks the DAVE leaf layout: %x", b)
	}
	kp, err := UnmarshalKeyPackage(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := kp.verify(); err != nil {
		t.Fatal(err)
	}
	if again, _ := kp.Marshal(); !bytes.Equal(again, b) {
		t.Fatal("re-encoding differs")
	}
	if !bytes.Equal(kp.Ref(), m.kp.Ref()) {
		t.Fatal("ref differs")
	}
}

func TestExternalSenderRoundTrip(t *testing.T) {
	gw := newGateway(t)
	s := gw.sender()
	b := s.Marshal()
	if !bytes.HasPrefix(b, []byte{0x40, 0x41, 4}) || !bytes.HasSuffix(b, []byte{0, 1, 4, 0, 1, 1, 0}) {
		t.Fatalf("encoding %x", b)
	}
	got, err := UnmarshalExternalSender(b)
	if err != nil || !bytes.Equal(got.SignatureKey, s.SignatureKey) || !bytes.Equal(got.Identity, s.Identity) {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestSplitMessage(t *testing.T) {
	gw := newGateway(t)
	a, b := newTestMember(t, 1), newTestMember(t, 2)
	p1, p2 := gw.add(0, a.kp), gw.add(0, b.kp)
	rest := append(bytes.Clone(p1), p2...)
	var got [][]byte
	for len(rest) > 0 {
		msg, r, err := SplitMessage(rest)
		if err != nil {
			t.Fatal(err)
		}
		got, rest = append(got, msg), r
	}
	if len(got) != 2 || !bytes.Equal(got[0], p1) || !bytes.Equal(got[1], p2) {
		t.Fatal("split mismatch")
	}
}

func TestInspectCommitAndWelcomeFor(t *testing.T) {
	gw := newGateway(t)
	a, b, c := newTestMember(t, 1), newTestMember(t, 2), newTestMember(t, 3)
	a.pending(t, gw)
	pb, pc := gw.add(0, b.kp), gw.add(0, c.kp)
	a.propose(t, pb, pc)
	commit, welcome := a.commit(t)
	info, err := InspectCommit(commit)
	if err != nil {
		t.Fatal(err)
	}
	refB, _ := ProposalRef(pb)
	refC, _ := ProposalRef(pc)
	if info.Epoch != 0 || info.Sender != 0 || info.ByValue != 0 || info.HasPath || len(info.ProposalRefs) != 2 ||
		!bytes.Equal(info.ProposalRefs[0], refB) || !bytes.Equal(info.ProposalRefs[1], refC) {
		t.Fatalf("info %+v", info)
	}
	a.process(t, commit)
	for _, m := range []*testMember{b, c} {
		w, err := WelcomeFor(welcome, m.kp.Ref())
		if err != nil {
			t.Fatal(err)
		}
		if len(w) >= len(welcome) {
			t.Fatal("per-joiner welcome is not smaller")
		}
		m.join(t, w)
	}
	agree(t, 1, a, b, c)
	if _, err := WelcomeFor(welcome, make([]byte, 32)); err == nil {
		t.Fatal("unknown ref accepted")
	}
}

func TestCommitRejectsDuplicateIdentity(t *testing.T) {
	gw := newGateway(t)
	a, b := newTestMember(t, 1), newTestMember(t, 2)
	a.pending(t, gw)
	dup := newTestMember(t, 1) // same user ID as A, new key package
	a.propose(t, gw.add(0, b.kp), gw.add(0, dup.kp))
	if _, _, err := a.g.Commit(); err == nil {
		t.Fatal("commit with a duplicate identity accepted")
	}
}
