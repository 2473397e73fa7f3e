package dave

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"

	"testing"
	"time"
)

var epoch0 = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

func testKey(b byte) [keySize]byte {
	var k [keySize]byte
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

// TestFrameCipherIsTruncatedGCM checks the CTR + re-seal construction against
// the standard library's full-tag GCM.
func TestFrameCipherIsTruncatedGCM(t *testing.T) {
	key := testKey(7)
	c, err := newFrameCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key[:])
	gcm, _ := cipher.NewGCM(block)
	for _, size := range []int{0, 1, 15, 16, 17, 160, 1275} {
		for _, nonce := range []uint32{1, 0x7f, 0x01000000, 0xffffffff} {
			pt := bytes.Repeat([]byte{byte(size)}, size)
			aad := []byte(nil)
			if size%2 == 1 {
				aad = []byte("header")
			}
			n := fullNonce(nonce)
			full := gcm.Seal(nil, n[:], pt, aad)
			ct, tag := c.seal([]byte("prefix"), pt, aad, nonce)
			if !bytes.Equal(ct[6:], full[:size]) || !bytes.Equal(tag[:], full[size:size+8]) {
				t.Fatalf("size %d nonce %#x: seal differs from GCM", size, nonce)
			}
			got, err := c.open([]byte("x"), full[:size], aad, tag, nonce)
			if err != nil || !bytes.Equal(got[1:], pt) {
				t.Fatalf("size %d nonce %#x: open = %x, %v", size, nonce, got, err)
			}
			bad := tag
			bad[7] ^= 1
			if _, err := c.open(nil, full[:size], aad, bad, nonce); !errors.Is(err, errAuth) {
				t.Fatalf("bad tag accepted")
			}
			if _, err := c.open(nil, full[:size], aad, tag, nonce+1); !errors.Is(err, errAuth) {
				t.Fatalf("wrong nonce accepted")
			}
			if size > 0 {
				ct2 := append([]byte(nil), full[:size]...)
				ct2[size-1] ^= 0x80
				if _, err := c.open(nil, ct2, aad, tag, nonce); !errors.Is(err, errAuth) {
					t.Fatalf("tampered ciphertext accepted")
				}
			}
		}
	}
}

func TestFullNonceLayout(t *testing.T) {
	n := fullNonce(0x01020304)
	if want := mustHex(t, "000000000000000004030201"); !bytes.Equal(n[:], want) {
		t.Fatalf("fullNonce = %x, want %x", n, want)
	}
}

func TestWrappedGeneration(t *testing.T) {
	for _, tc := range []struct{ oldest, gen, want uint32 }{
		{0, 0, 0},
		{0, 5, 5},
		{3, 5, 5},
		{255, 255, 255},
		{255, 0, 256},   // the nonce wrapped past 2^32
		{255, 254, 510}, // "older" than oldest: wraps; the gap check rejects it
		{256, 0, 256},
		{300, 50, 306},
		{300, 43, 555},
	} {
		if got := wrappedGeneration(tc.oldest, tc.gen); got != tc.want {
			t.Errorf("wrappedGeneration(%d, %d) = %d, want %d", tc.oldest, tc.gen, got, tc.want)
		}
	}
}

func pair(t *testing.T) (*encryptor, *decryptor) {
	t.Helper()
	base := mustHex(t, "cedd61b1b8a1ca69046554282cf70b7b")
	var e encryptor
	e.setRatchet(newKeyRatchet(base))
	d := &decryptor{}
	d.addRatchet(newKeyRatchet(base), epoch0)
	return &e, d
}

func TestEncryptDecrypt(t *testing.T) {
	e, d := pair(t)
	opus := bytes.Repeat([]byte{0xAB}, 17)
	for i := 1; i <= 200; i++ {
		frame, err := e.encrypt(nil, opus)
		if err != nil {
			t.Fatal(err)
		}
		_, tr, err := parseFrame(frame)
		if err != nil {
			t.Fatal(err)
		}
		if tr.nonce != uint32(i) {
			t.Fatalf("frame %d has nonce %d (the first frame uses 1)", i, tr.nonce)
		}
		if want := len(opus) + 8 + leb128Len(uint64(i)) + 3; len(frame) != want {
			t.Fatalf("frame %d is %d bytes, want %d", i, len(frame), want)
		}
		got, err := d.decrypt([]byte{0x01}, frame, epoch0)
		if err != nil || !bytes.Equal(got, append([]byte{0x01}, opus...)) {
			t.Fatalf("frame %d: decrypt = %x, %v", i, got, err)
		}
		if _, err := d.decrypt(nil, frame, epoch0); !errors.Is(err, errReplay) {
			t.Fatalf("frame %d: replay err = %v", i, err)
		}
	}
}

func TestOutOfOrderAndMissingWindow(t *testing.T) {
	e, d := pair(t)
	var frames [][]byte
	for range 1200 {
		f, err := e.encrypt(nil, []byte("opus"))
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	open := func(i int) error { _, err := d.decrypt(nil, frames[i], epoch0); return err }
	if err := open(0); err != nil {
		t.Fatal(err)
	}
	if err := open(1100); err != nil { // skips 1099 nonces; the window keeps the latest 1000
		t.Fatal(err)
	}
	if err := open(50); !errors.Is(err, errReplay) {
		t.Fatalf("nonce beyond the missing window: err = %v", err)
	}
	if err := open(500); err != nil {
		t.Fatalf("late frame inside the window: %v", err)
	}
	if err := open(500); !errors.Is(err, errReplay) {
		t.Fatalf("late frame twice: err = %v", err)
	}
	if err := open(1099); err != nil {
		t.Fatal(err)
	}
}

func TestGenerationRules(t *testing.T) {
	e, d := pair(t)
	e.nonce = 1<<24 - 3 // next frames: generation 0 twice, then generation 1
	fa, err := e.encrypt(nil, []byte("ga"))
	if err != nil {
		t.Fatal(err)
	}
	f0, err := e.encrypt(nil, []byte("g0"))
	if err != nil {
		t.Fatal(err)
	}
	f1, err := e.encrypt(nil, []byte("g1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, tr, _ := parseFrame(f1); tr.nonce>>24 != 1 {
		t.Fatalf("second frame nonce %#x, want generation 1", tr.nonce)
	}
	// A fresh ratchet cannot have reached generation 1: 2^24/170 s must pass first.
	if _, err := d.decrypt(nil, f1, epoch0.Add(time.Hour)); !errors.Is(err, errMissingKey) {
		t.Fatalf("young ratchet, generation 1: err = %v", err)
	}
	old := epoch0.Add((1<<24/maxFramesPerSec + 1) * time.Second)
	if _, err := d.decrypt(nil, fa, old); err != nil {
		t.Fatal(err)
	}
	if got, err := d.decrypt(nil, f1, old); err != nil || string(got) != "g1" {
		t.Fatalf("generation 1: %q, %v", got, err)
	}
	// A skipped generation-0 frame is still accepted for 10 s after generation 1 succeeded.
	if got, err := d.decrypt(nil, f0, old.Add(5*time.Second)); err != nil || string(got) != "g0" {
		t.Fatalf("late generation 0: %q, %v", got, err)
	}
	// Far-future generation (gap > 250) is rejected even on an old ratchet.
	e.nonce = 255<<24 - 1
	fFar, err := e.encrypt(nil, []byte("far"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.decrypt(nil, fFar, old.Add(1000*time.Hour)); !errors.Is(err, errMissingKey) {
		t.Fatalf("generation gap 254: err = %v", err)
	}
}

func TestGenerationExpiry(t *testing.T) {
	e, d := pair(t)
	late := epoch0.Add(200000 * time.Second) // old enough for generation 2
	e.nonce = 1<<24 - 2
	for i := range 3 { // nonces 2^24-1 .. 2^24+1: generation 0, 1, 1
		f, err := e.encrypt(nil, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.decrypt(nil, f, late.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	m := d.managers[0]
	m.cleanup(late.Add(9 * time.Second))
	if m.oldest != 0 {
		t.Fatalf("generation 0 dropped before its 10 s expiry (oldest %d)", m.oldest)
	}
	m.cleanup(late.Add(12 * time.Second))
	if m.oldest != 1 {
		t.Fatalf("oldest generation %d after expiry, want 1", m.oldest)
	}
	if _, err := m.ratchet.key(0); !errors.Is(err, errExpiredGeneration) {
		t.Fatalf("generation 0 key not erased: %v", err)
	}
	f, _ := e.encrypt(nil, []byte("y"))
	if got, err := d.decrypt(nil, f, late.Add(30*time.Second)); err != nil || string(got) != "y" {
		t.Fatalf("generation 1 after expiry of 0: %q, %v", got, err)
	}
}

func TestOldEpochKeptBriefly(t *testing.T) {
	oldBase, newBase := mustHex(t, "00112233445566778899aabbccddeeff"), mustHex(t, "ffeeddccbbaa99887766554433221100")
	var oldE, newE encryptor
	oldE.setRatchet(newKeyRatchet(oldBase))
	newE.setRatchet(newKeyRatchet(newBase))
	d := &decryptor{}
	d.addRatchet(newKeyRatchet(oldBase), epoch0)
	d.addRatchet(newKeyRatchet(newBase), epoch0.Add(time.Second))
	fNew, _ := newE.encrypt(nil, []byte("new"))
	fOld, _ := oldE.encrypt(nil, []byte("old"))
	fOld2, _ := oldE.encrypt(nil, []byte("old2"))
	for _, tc := range []struct {
		frame []byte
		at    time.Duration
		want  string
	}{
		{fNew, 2 * time.Second, "new"},
		{fOld, 9 * time.Second, "old"},
		{fOld2, 12 * time.Second, ""}, // the old epoch expired 10 s after the transition
	} {
		got, err := d.decrypt(nil, tc.frame, epoch0.Add(tc.at))
		if tc.want == "" {
			if err == nil {
				t.Fatalf("at %v: expired epoch still decrypts", tc.at)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Fatalf("at %v: %q, %v", tc.at, got, err)
		}
	}
	if len(d.managers) != 1 {
		t.Fatalf("%d epochs kept, want 1", len(d.managers))
	}
}

func TestPassthroughAndSilence(t *testing.T) {
	e, d := pair(t)
	plain := []byte{0x78, 0x01, 0x02}
	if got, err := d.decrypt(nil, silenceFrame, epoch0); err != nil || !bytes.Equal(got, silenceFrame) {
		t.Fatalf("silence: %x, %v", got, err)
	}
	if _, err := d.decrypt(nil, plain, epoch0); !errors.Is(err, errPlainFrame) {
		t.Fatalf("plain frame without passthrough: err = %v", err)
	}
	d.setPassthrough(true, epoch0, 0)
	if got, err := d.decrypt(nil, plain, epoch0.Add(time.Hour)); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("passthrough on: %x, %v", got, err)
	}
	f, _ := e.encrypt(nil, []byte("enc"))
	if got, err := d.decrypt(nil, f, epoch0); err != nil || string(got) != "enc" {
		t.Fatalf("encrypted frame while passthrough on: %q, %v", got, err)
	}
	d.setPassthrough(false, epoch0, passthroughExpiry)
	if _, err := d.decrypt(nil, plain, epoch0.Add(9*time.Second)); err != nil {
		t.Fatalf("plain frame inside the upgrade grace: %v", err)
	}
	if _, err := d.decrypt(nil, plain, epoch0.Add(11*time.Second)); !errors.Is(err, errPlainFrame) {
		t.Fatalf("plain frame after the grace: err = %v", err)
	}
}

func TestEncryptWithoutRatchet(t *testing.T) {
	var e encryptor
	if _, err := e.encrypt(nil, []byte("x")); !errors.Is(err, errNoRatchet) {
		t.Fatalf("err = %v", err)
	}
	var d decryptor
	f := mustHex(t, "aabbcc0000000000000000010cfafa")
	if _, err := d.decrypt(nil, f, epoch0); !errors.Is(err, errMissingKey) {
		t.Fatalf("decrypt without ratchet: err = %v", err)
	}
}

// TestNonceWrap runs a sender across the 2^32 nonce wrap: generation 255
// is followed by raw generation 0, which the receiver reads as 256.
func TestNonceWrap(t *testing.T) {
	e, d := pair(t)
	// Old enough for any generation below 257: 257·2^24/170 s.
	at := epoch0.Add(time.Duration(257<<24/maxFramesPerSec+1) * time.Second)
	open := func(nonce uint32, when time.Time) error {
		e.nonce = nonce - 1
		f, err := e.encrypt(nil, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.decrypt(nil, f, when)
		return err
	}
	// Walk the receiver up in steps within the 250-generation gap.
	for _, g := range []uint32{0, 200, 255} {
		if err := open(g<<24|1, at); err != nil {
			t.Fatalf("generation %d: %v", g, err)
		}
	}
	// Once the older generations expire, the oldest kept is 255.
	at = at.Add(11 * time.Second)
	if err := open(0xffffffff, at); err != nil {
		t.Fatalf("last nonce before the wrap: %v", err)
	}
	if d.managers[0].oldest != 255 {
		t.Fatalf("oldest generation %d, want 255", d.managers[0].oldest)
	}
	e.nonce = 0xffffffff
	f, err := e.encrypt(nil, []byte("wrapped"))
	if err != nil {
		t.Fatal(err)
	}
	if _, tr, _ := parseFrame(f); tr.nonce != 0 || e.gen != 256 {
		t.Fatalf("after the wrap: nonce %d, sender generation %d", tr.nonce, e.gen)
	}
	if got, err := d.decrypt(nil, f, at); err != nil || string(got) != "wrapped" {
		t.Fatalf("first frame after the wrap: %q, %v", got, err)
	}
	if _, err := d.decrypt(nil, f, at); !errors.Is(err, errReplay) {
		t.Fatalf("replay after the wrap: %v", err)
	}
}
