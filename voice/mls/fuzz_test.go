package mls

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds returns a few values of one field of messages.json.
func fuzzSeeds(f *testing.F, keys ...string) {
	raw, err := os.ReadFile(filepath.Join("testdata", "messages.json"))
	if err != nil {
		f.Fatal(err)
	}
	var all []map[string]string
	if err := json.Unmarshal(raw, &all); err != nil {
		f.Fatal(err)
	}
	for _, e := range all[:8] {
		for _, k := range keys {
			b, err := hex.DecodeString(e[k])
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 1})
}

// FuzzMLSMessage: any MLSMessage that decodes re-encodes to the same bytes.
func FuzzMLSMessage(f *testing.F) {
	fuzzSeeds(f, "mls_welcome", "mls_group_info", "mls_key_package", "public_message_proposal",
		"public_message_commit", "public_message_application", "private_message")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMLSMessage(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.bytes(), b) {
			t.Fatalf("re-encoding differs for %x", b)
		}
		if _, _, err := SplitMessage(b); err != nil {
			t.Fatalf("SplitMessage rejects a valid message: %v", err)
		}
	})
}

func FuzzKeyPackage(f *testing.F) {
	raw, _ := os.ReadFile(filepath.Join("testdata", "messages.json"))
	var all []map[string]string
	_ = json.Unmarshal(raw, &all)
	for _, e := range all[:8] {
		b, _ := hex.DecodeString(e["mls_key_package"])
		f.Add(b[4:]) // strip MLSMessage header
	}
	// Invalid points: an init key and a leaf encryption key off the curve.
	m := newTestMember(f, 9)
	for _, keys := range [][2]bool{{true, false}, {false, true}} {
		kp, _ := forgedKeyPackage(f, m, keys[0], keys[1]).Marshal()
		f.Add(kp)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kp, err := UnmarshalKeyPackage(b)
		if err != nil {
			return
		}
		_ = kp.verify()
		if again, _ := kp.Marshal(); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzExternalSender(f *testing.F) {
	sig, err := GenerateSignatureKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Add((&ExternalSender{SignatureKey: sig.PublicKey(), Identity: []byte{0, 1, 1, 0}}).Marshal())
	f.Add((&ExternalSender{SignatureKey: offCurve(), Identity: []byte{0, 1, 1, 0}}).Marshal())
	f.Add([]byte{0x40, 0x41})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := UnmarshalExternalSender(b)
		if err != nil {
			return
		}
		if !bytes.Equal(e.Marshal(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzRatchetTree(f *testing.F) {
	fuzzSeeds(f, "ratchet_tree")
	f.Fuzz(func(t *testing.T, b []byte) {
		tree, err := unmarshalTree(b)
		if err != nil {
			return
		}
		if !bytes.Equal(tree.marshal(), b) {
			t.Fatalf("re-encoding differs")
		}
		_ = tree.validate([]byte("g"))
		_ = tree.rootHash()
	})
}

// FuzzStructs covers the remaining decoders: GroupSecrets, Commit and the
// proposal bodies.
func FuzzStructs(f *testing.F) {
	fuzzSeeds(f, "group_secrets", "commit", "add_proposal", "update_proposal", "remove_proposal",
		"pre_shared_key_proposal", "re_init_proposal", "external_init_proposal", "group_context_extensions_proposal")
	f.Fuzz(func(t *testing.T, b []byte) {
		r := reader{b: b}
		var gs groupSecrets
		gs.unmarshal(&r)
		if r.finish() == nil {
			var w writer
			gs.marshal(&w)
			if !bytes.Equal(w.b, b) {
				t.Fatalf("group secrets re-encoding differs")
			}
		}
		r = reader{b: b}
		var c commit
		c.unmarshal(&r)
		if r.finish() == nil {
			var w writer
			c.marshal(&w)
			if !bytes.Equal(w.b, b) {
				t.Fatalf("commit re-encoding differs")
			}
		}
		for typ := uint16(1); typ <= 7; typ++ {
			r = reader{b: b}
			p := proposal{typ: typ}
			p.unmarshalBody(&r)
			if r.finish() == nil {
				var w writer
				p.marshalBody(&w)
				if !bytes.Equal(w.b, b) {
					t.Fatalf("proposal %d re-encoding differs", typ)
				}
			}
		}
	})
}

// FuzzGroupInput feeds garbage to a live group's message entry points and to
// JoinFromWelcome: errors only, and the group must stay usable.
func FuzzGroupInput(f *testing.F) {
	gw := newGateway(f)
	a, b := newTestMember(f, 1), newTestMember(f, 2)
	a.pending(f, gw)
	f.Add(gw.add(0, b.kp))
	f.Add(gw.remove(0, 0))
	a2 := newTestMember(f, 3)
	a2.pending(f, gw)
	a2.propose(f, gw.add(0, b.kp))
	c, w := a2.commit(f)
	f.Add(c)
	f.Add(w)
	// Invalid points: a forged key package's Add, and a commit whose
	// UpdatePath gives the committer's leaf a key off the curve.
	x := newTestMember(f, 4)
	f.Add(gw.add(0, forgedKeyPackage(f, x, true, false)))
	a3 := newTestMember(f, 5)
	a3.pending(f, gw)
	a3.g.forgePath = func(_ []byte, nodes [][]byte) ([]byte, [][]byte) { return offCurve(), nodes }
	c, _ = a3.commit(f)
	f.Add(c)
	f.Fuzz(func(t *testing.T, msg []byte) {
		g := *a.g
		g.proposals = nil
		_, _ = g.ProcessProposal(msg)
		_ = g.ProcessCommit(msg)
		_, _ = JoinFromWelcome(msg, b.priv, nil)
		_, _ = InspectCommit(msg)
		_, _ = WelcomeFor(msg, b.kp.Ref())
		if _, err := g.Export("x", nil, 16); err != nil {
			t.Fatal(err)
		}
	})
}
