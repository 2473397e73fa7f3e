package mls

import (
	"crypto/ecdh"
	"errors"
	"testing"
)

// offCurve is an uncompressed P-256 encoding of a point that is not on the
// curve (x = 1, y = 1): the bytes parse, the key does not.
func offCurve() []byte {
	b := make([]byte, 65)
	b[0] = 4
	b[32], b[64] = 1, 1
	if _, err := ecdh.P256().NewPublicKey(b); err == nil {
		panic("(1, 1) is on P-256")
	}
	return b
}

// forgedKeyPackage is m's key package with its init key or leaf encryption
// key replaced by an invalid point, re-signed so that only the key is wrong.
func forgedKeyPackage(t testing.TB, m *testMember, initKey, encKey bool) *KeyPackage {
	t.Helper()
	kp := *m.kp
	if initKey {
		kp.initKey = offCurve()
	}
	if encKey {
		kp.leaf.encryptionKey = offCurve()
		if err := kp.leaf.sign(m.sig, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	var w writer
	kp.marshalTBS(&w)
	sig, err := m.sig.signWithLabel("KeyPackageTBS", w.b)
	if err != nil {
		t.Fatal(err)
	}
	kp.signature = sig
	return &kp
}

// threeMembers builds a group of A (leaf 0), B (leaf 1) and C (leaf 2) at epoch 2.
func threeMembers(t *testing.T) (*gateway, *testMember, *testMember, *testMember) {
	gw := newGateway(t)
	a, b, c := newTestMember(t, 1), newTestMember(t, 2), newTestMember(t, 3)
	a.pending(t, gw)
	a.propose(t, gw.add(0, b.kp))
	commit, welcome := a.commit(t)
	a.process(t, commit)
	b.join(t, welcome)
	addC := gw.add(1, c.kp)
	a.propose(t, addC)
	b.propose(t, addC)
	commit, welcome = a.commit(t)
	a.process(t, commit)
	b.process(t, commit)
	c.join(t, welcome)
	agree(t, 2, a, b, c)
	return gw, a, b, c
}

// TestInvalidKeyPackageRejectedAlone: Add proposals whose key package carries
// an init key or a leaf encryption key off the curve are refused by
// ProcessProposal (RFC 9420 §10.1, §7.3), each on its own; the honest
// joiners of the same batch are committed and welcomed.
func TestInvalidKeyPackageRejectedAlone(t *testing.T) {
	gw := newGateway(t)
	a, b, c := newTestMember(t, 1), newTestMember(t, 2), newTestMember(t, 3)
	x, y := newTestMember(t, 4), newTestMember(t, 5)
	a.pending(t, gw)
	batch := []struct {
		name string
		msg  []byte
		bad  bool
	}{
		{"honest B", gw.add(0, b.kp), false},
		{"X with an invalid init key", gw.add(0, forgedKeyPackage(t, x, true, false)), true},
		{"Y with an invalid leaf encryption key", gw.add(0, forgedKeyPackage(t, y, false, true)), true},
		{"honest C", gw.add(0, c.kp), false},
	}
	for _, p := range batch {
		_, err := a.g.ProcessProposal(p.msg)
		switch {
		case p.bad && !errors.Is(err, errInvalidKey):
			t.Fatalf("%s: ProcessProposal = %v, want an invalid-key error", p.name, err)
		case !p.bad && err != nil:
			t.Fatalf("%s: %v", p.name, err)
		}
	}
	if n := len(a.g.Proposals()); n != 2 {
		t.Fatalf("%d proposals cached, want the 2 honest ones", n)
	}
	commit, welcome := a.commit(t)
	a.process(t, commit)
	b.join(t, welcome)
	c.join(t, welcome)
	agree(t, 1, a, b, c)
}

// TestForgedCommitLeafKeyRejected: a committer whose UpdatePath gives its own
// leaf an encryption key off the curve (signed, parent hash intact) is
// refused by the members (the leaf is validated, RFC 9420 §7.3) and by the
// joiner its Welcome is for (the imported tree is validated, §12.4.3.1).
// Accepting it would make every later commit that encrypts to that leaf fail.
func TestForgedCommitLeafKeyRejected(t *testing.T) {
	gw, a, b, c := threeMembers(t)
	d := newTestMember(t, 4)
	add, rm := gw.add(2, d.kp), gw.remove(2, b.g.OwnLeaf())
	a.propose(t, add, rm)
	c.propose(t, add, rm)
	a.g.forgePath = func(_ []byte, nodes [][]byte) ([]byte, [][]byte) { return offCurve(), nodes }
	commit, welcome := a.commit(t)
	if err := c.g.ProcessCommit(commit); !errors.Is(err, errInvalidKey) {
		t.Fatalf("member processing the forged commit: %v, want an invalid-key error", err)
	}
	if c.g.Epoch() != 2 {
		t.Fatalf("member moved to epoch %d on a refused commit", c.g.Epoch())
	}
	if _, err := JoinFromWelcome(welcome, d.priv, nil); !errors.Is(err, errInvalidKey) {
		t.Fatalf("joiner of the forged tree: %v, want an invalid-key error", err)
	}
}

// TestForgedUpdatePathNodeKeyRejected: a node key off the curve below the
// node whose secret a member decrypts (so the member never derives it) is
// still refused: C at leaf 2 decrypts the root's secret, not node 1's.
func TestForgedUpdatePathNodeKeyRejected(t *testing.T) {
	_, a, b, c := threeMembers(t)
	a.g.forgePath = func(leaf []byte, nodes [][]byte) ([]byte, [][]byte) {
		if len(nodes) != 2 {
			t.Fatalf("A's path has %d nodes, want 2 (nodes 1 and 3)", len(nodes))
		}
		nodes[0] = offCurve()
		return leaf, nodes
	}
	commit, _ := a.commit(t) // no proposals: an UpdatePath alone
	if err := c.g.ProcessCommit(commit); !errors.Is(err, errInvalidKey) {
		t.Fatalf("C: %v, want an invalid-key error", err)
	}
	if err := b.g.ProcessCommit(commit); err == nil {
		t.Fatal("B (which derives node 1 itself) accepted the forged path")
	}
}

// TestInvalidExternalSenderKey: an op-25 external sender whose signature key
// is off the curve is refused when it arrives.
func TestInvalidExternalSenderKey(t *testing.T) {
	es := ExternalSender{SignatureKey: offCurve(), Identity: []byte{0, 1, 1, 0}}
	if _, err := UnmarshalExternalSender(es.Marshal()); !errors.Is(err, errInvalidKey) {
		t.Fatalf("UnmarshalExternalSender = %v, want an invalid-key error", err)
	}
}
