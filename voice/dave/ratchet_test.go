package dave

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeyRatchetKnownAnswer is davey's hash_ratchet.rs expected_result test.
func TestKeyRatchetKnownAnswer(t *testing.T) {
	base := mustHex(t, "cedd61b1b8a1ca69046554282cf70b7b")
	r := newKeyRatchet(base)
	k0, err := r.key(0)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, "7530f9a9945e2d2e06d0651f7b2a864b"); !bytes.Equal(k0[:], want) {
		t.Errorf("key_0 = %x, want %x", k0, want)
	}
	// DAVE does not use the ratchet's nonces, but they pin the label encoding.
	var ctx [4]byte
	nonce0, err := expandWithLabel(base, "nonce", ctx[:], nonceSize)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, "301e5f4b74090f985e726bb2"); !bytes.Equal(nonce0, want) {
		t.Errorf("nonce_0 = %x, want %x", nonce0, want)
	}
}

func TestKeyRatchetForwardAndErase(t *testing.T) {
	base := mustHex(t, "cedd61b1b8a1ca69046554282cf70b7b")
	// Generation 2 by hand: secret_{g+1} = ExpandWithLabel(secret_g, "secret", BE32(g), 32).
	s := base
	for g := uint32(0); g < 2; g++ {
		var ctx [4]byte
		binary.BigEndian.PutUint32(ctx[:], g)
		var err error
		if s, err = expandWithLabel(s, "secret", ctx[:], secretSize); err != nil {
			t.Fatal(err)
		}
	}
	want, err := expandWithLabel(s, "key", []byte{0, 0, 0, 2}, keySize)
	if err != nil {
		t.Fatal(err)
	}
	r := newKeyRatchet(base)
	k2, err := r.key(2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k2[:], want) {
		t.Fatalf("key_2 = %x, want %x", k2, want)
	}
	k0, err := r.key(0) // still cached
	if err != nil {
		t.Fatal(err)
	}
	r.erase(0)
	if _, err := r.key(0); !errors.Is(err, errExpiredGeneration) {
		t.Fatalf("erased key: err = %v, want errExpiredGeneration", err)
	}
	if k1, _ := r.key(1); k1 == k0 || k1 == k2 {
		t.Fatal("generations share a key")
	}
}

type fakeExporter struct {
	label string
	ctx   []byte
	n     int
}

func (f *fakeExporter) Export(label string, ctx []byte, n int) ([]byte, error) {
	f.label, f.ctx, f.n = label, append([]byte(nil), ctx...), n
	return make([]byte, n), nil
}

func TestSenderBaseSecretContext(t *testing.T) {
	var e fakeExporter
	if _, err := senderBaseSecret(&e, 158049329150427136); err != nil {
		t.Fatal(err)
	}
	if e.label != "Discord Secure Frames v0" || e.n != 16 {
		t.Errorf("Export(%q, _, %d)", e.label, e.n)
	}
	// Little-endian, unlike the credential's big-endian 0231810709000000.
	if want := mustHex(t, "0000000907813102"); !bytes.Equal(e.ctx, want) {
		t.Errorf("context = %x, want %x", e.ctx, want)
	}
}
