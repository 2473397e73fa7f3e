package davetest

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/livecord/livecord/voice/mls"
)

// realCommit makes a commit of one external Add proposal with voice/mls.
func realCommit(t testing.TB) (commit, ref, gid []byte) {
	t.Helper()
	gid = binary.BigEndian.AppendUint64(nil, 77)
	ext, err := mls.GenerateSignatureKey()
	if err != nil {
		t.Fatal(err)
	}
	mk := func(uid uint64) *mls.KeyPackagePrivate {
		sk, err := mls.GenerateSignatureKey()
		if err != nil {
			t.Fatal(err)
		}
		_, kpp, err := mls.NewKeyPackage(binary.BigEndian.AppendUint64(nil, uid), sk, mls.KeyPackageOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return kpp
	}
	g, err := mls.NewGroup(gid, mk(1), []mls.ExternalSender{{SignatureKey: ext.PublicKey(), Identity: []byte{1}}})
	if err != nil {
		t.Fatal(err)
	}
	prop, err := mls.ExternalAddProposal(gid, 0, ext, mk(2).KeyPackage())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.ProcessProposal(prop); err != nil {
		t.Fatal(err)
	}
	if ref, err = mls.ProposalRef(prop); err != nil {
		t.Fatal(err)
	}
	if commit, _, err = g.Commit(); err != nil {
		t.Fatal(err)
	}
	return commit, ref, gid
}

func TestParseCommit(t *testing.T) {
	commit, ref, gid := realCommit(t)
	h, err := parseCommit(commit)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.groupID, gid) || h.epoch != 0 || h.sender != 0 || len(h.refs) != 1 || !bytes.Equal(h.refs[0], ref) {
		t.Fatalf("parsed %+v", h)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", commit[:20]},
		{"private message", append([]byte{0, 1, 0, 2}, commit[4:]...)},
		{"external sender", bytes.Replace(commit, []byte{1, 0, 0, 0, 0}, []byte{2, 0, 0, 0, 0}, 1)},
		{"by value", bytes.Replace(commit, append([]byte{2, 32}, ref[:4]...), append([]byte{1, 32}, ref[:4]...), 1)},
	} {
		if _, err := parseCommit(tc.b); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func FuzzParseCommit(f *testing.F) {
	commit, _, _ := realCommit(f)
	f.Add(commit)
	f.Add([]byte{0, 1, 0, 1, 8, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0, 1, 0, 1, 0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseCommit(b)
		if err == nil && h == nil {
			t.Fatal("nil header without error")
		}
	})
}
