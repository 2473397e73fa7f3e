package dave

import (
	"crypto/aes"
	"crypto/cipher"
	"testing"
)

// opusFrame is a typical 20 ms Opus packet: 64 kbit/s × 20 ms = 160 bytes.
var opusFrame = make([]byte, 160)

// BenchmarkFrame measures DAVE frame encryption and decryption per packet,
// with plain AES-128-GCM on the same bytes as the reference floor.
func BenchmarkFrame(b *testing.B) {
	base := make([]byte, 16)
	b.Run("encrypt", func(b *testing.B) {
		var e encryptor
		e.setRatchet(newKeyRatchet(base))
		buf := make([]byte, 0, 256)
		b.SetBytes(int64(len(opusFrame)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.encrypt(buf[:0], opusFrame); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decrypt", func(b *testing.B) {
		var e encryptor
		var d *decryptor
		// Frames decrypt once, so encrypt them in batches outside the timer.
		const batch = 4096
		frames := make([][]byte, batch)
		out := make([]byte, 0, 256)
		b.SetBytes(int64(len(opusFrame)))
		b.ReportAllocs()
		i := batch
		for b.Loop() {
			if i == batch {
				b.StopTimer()
				if d == nil || e.nonce > 1<<generationShift-2*batch {
					// Stay in generation 0, which a young key accepts.
					e.setRatchet(newKeyRatchet(base))
					d = &decryptor{}
					d.addRatchet(newKeyRatchet(base), epoch0)
				}
				for j := range frames {
					var err error
					if frames[j], err = e.encrypt(frames[j][:0], opusFrame); err != nil {
						b.Fatal(err)
					}
				}
				i = 0
				b.StartTimer()
			}
			if _, err := d.decrypt(out[:0], frames[i], epoch0); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	key := make([]byte, 16)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	sealed := gcm.Seal(nil, nonce, opusFrame, nil)
	b.Run("reference-gcm-seal", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		b.SetBytes(int64(len(opusFrame)))
		b.ReportAllocs()
		for b.Loop() {
			gcm.Seal(buf[:0], nonce, opusFrame, nil)
		}
	})
	b.Run("reference-gcm-open", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		b.SetBytes(int64(len(opusFrame)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := gcm.Open(buf[:0], nonce, sealed, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSession measures the public per-packet calls (lock, user lookup,
// passthrough checks) between two members of a Go group. Each sub-benchmark
// gets a fresh group: a receiver rejects generations (2^24 frames each) that
// a young key could not have reached yet.
func BenchmarkSession(b *testing.B) {
	group := func(b *testing.B) (sender, receiver *Session) {
		c := newCall(b, 9)
		a, r := newGoPeer(b, 1, 9), newGoPeer(b, 2, 9)
		c.join(1, a)
		c.join(2, r)
		return a.s, r.s
	}
	buf := make([]byte, 0, 256)
	b.Run("encrypt", func(b *testing.B) {
		a, _ := group(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Encrypt(buf[:0], opusFrame); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decrypt", func(b *testing.B) {
		var a, r *Session
		const batch = 4096
		frames := make([][]byte, batch)
		b.ReportAllocs()
		i, sent := batch, 0
		for b.Loop() {
			if i == batch {
				b.StopTimer()
				if a == nil || sent > 1<<generationShift-2*batch {
					a, r = group(b) // stay in generation 0
					sent = 0
				}
				sent += batch
				for j := range frames {
					var err error
					if frames[j], err = a.Encrypt(frames[j][:0], opusFrame); err != nil {
						b.Fatal(err)
					}
				}
				i = 0
				b.StartTimer()
			}
			if _, err := r.Decrypt(buf[:0], 1, frames[i]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
