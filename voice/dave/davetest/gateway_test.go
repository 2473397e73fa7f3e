package davetest

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"testing"

	"github.com/livecord/livecord/voice/mls"
)

func keyPackage(t *testing.T, uid uint64) []byte {
	t.Helper()
	sk, err := mls.GenerateSignatureKey()
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
	return b
}

func TestGatewayGreetsAndProposes(t *testing.T) {
	g, err := New(1189187449416429608)
	if err != nil {
		t.Fatal(err)
	}
	if out := g.Connect(1); len(out) != 1 || out[0].Op != 25 || !out[0].Binary {
		t.Fatalf("first user got %+v, want op 25 only", out)
	}
	out := g.Connect(2)
	var got []int
	for _, m := range out {
		got = append(got, m.Op)
	}
	if !slices.Equal(got, []int{11, 11, 25}) || out[0].To != 1 || out[1].To != 2 || out[2].To != 2 {
		t.Fatalf("second user: %+v", out)
	}
	var d struct {
		UserIDs []string `json:"user_ids"`
	}
	if err := json.Unmarshal(out[1].Payload, &d); err != nil || !slices.Equal(d.UserIDs, []string{"1"}) {
		t.Fatalf("op 11 to the newcomer: %s, %v", out[1].Payload, err)
	}
	es, err := mls.UnmarshalExternalSender(out[2].Payload)
	if err != nil || len(es.SignatureKey) != 65 {
		t.Fatalf("op 25: %v", err)
	}

	if _, err := g.Receive(1, 26, keyPackage(t, 3)); err == nil {
		t.Fatal("key package naming another user accepted")
	}
	if _, err := g.Receive(1, 26, []byte{0, 1}); err == nil {
		t.Fatal("garbage key package accepted")
	}
	if _, err := g.Receive(9, 26, keyPackage(t, 9)); err == nil {
		t.Fatal("key package from an unconnected user accepted")
	}
	if out, err := g.Receive(1, 26, keyPackage(t, 1)); err != nil || len(out) != 0 {
		t.Fatalf("a lone key package: %+v, %v", out, err)
	}
	// With two pending users, each is asked to add the other at epoch 0.
	out, err = g.Receive(2, 26, keyPackage(t, 2))
	if err != nil || len(out) != 2 {
		t.Fatalf("second key package: %d messages, %v", len(out), err)
	}
	for _, m := range out {
		if m.Op != 27 || m.Payload[0] != 0 {
			t.Fatalf("%+v is not an op-27 append", m)
		}
		msg, rest, err := mls.SplitMessage(m.Payload[3:]) // op type, 2-byte vector length
		if err != nil || len(rest) != 0 {
			t.Fatalf("proposal vector: %v, %d bytes left", err, len(rest))
		}
		if _, err := mls.ProposalRef(msg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.Receive(1, 28, []byte{0, 1, 0, 1}); err == nil {
		t.Fatal("garbage commit accepted")
	}
}
