package dave

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

var errAuth = errors.New("dave: frame authentication failed")

// frameCipher is AES-128-GCM with the 8-byte truncated tag DAVE uses.
//
// Go's GCM refuses tags shorter than 12 bytes, so sealing keeps the first 8
// bytes of the full tag, and opening decrypts with GCM's CTR keystream
// (counter blocks from nonce ‖ 00000002), then re-seals the plaintext to
// recompute the tag and compares its first 8 bytes in constant time. GCM's tag
// depends only on key, nonce, AAD and ciphertext, so the recomputed tag is the
// sender's.
type frameCipher struct {
	block   cipher.Block
	gcm     cipher.AEAD
	scratch []byte
	nonce   [nonceSize]byte
}

func newFrameCipher(key [keySize]byte) (*frameCipher, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("dave: frame cipher: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("dave: frame cipher: %w", err)
	}
	return &frameCipher{block: block, gcm: gcm}, nil
}

// fullNonce expands a truncated sync nonce: eight zero bytes, then the
// counter in little-endian (libdave copies the host-order uint32; davey uses to_le_bytes).
func fullNonce(truncated uint32) [nonceSize]byte {
	var n [nonceSize]byte
	binary.LittleEndian.PutUint32(n[8:], truncated)
	return n
}

// seal appends the ciphertext of plaintext to dst and returns it with the truncated tag.
func (c *frameCipher) seal(dst, plaintext, aad []byte, nonce uint32) ([]byte, [tagSize]byte) {
	c.nonce = fullNonce(nonce)
	start := len(dst)
	out := c.gcm.Seal(dst, c.nonce[:], plaintext, aad)
	var tag [tagSize]byte
	copy(tag[:], out[start+len(plaintext):])
	return out[:start+len(plaintext)], tag
}

// open appends the plaintext of ciphertext to dst, or fails if the truncated tag does not match.
func (c *frameCipher) open(dst, ciphertext, aad []byte, tag [tagSize]byte, nonce uint32) ([]byte, error) {
	c.nonce = fullNonce(nonce)
	start := len(dst)
	// GCM's payload keystream is the same for Seal and Open, so sealing the
	// ciphertext yields the plaintext (its tag is discarded). This is the
	// CTR step, through the standard library's fused assembly and without
	// allocating a cipher.Stream.
	dst = c.gcm.Seal(dst, c.nonce[:], ciphertext, nil)[:start+len(ciphertext)]
	pt := dst[start:]
	c.scratch = c.gcm.Seal(c.scratch[:0], c.nonce[:], pt, aad)
	if subtle.ConstantTimeCompare(c.scratch[len(pt):len(pt)+tagSize], tag[:]) != 1 {
		clear(pt)
		return dst[:start], errAuth
	}
	return dst, nil
}
