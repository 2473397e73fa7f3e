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
		e.setRatchet(newKeyRatchet(base))
		d := &decryptor{}
		d.addRatchet(newKeyRatchet(base), epoch0)
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
