package dave

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// senderKeyLabel is the MLS exporter label every DAVE v1 sender key derives from.
const senderKeyLabel = "Discord Secure Frames v0"

const (
	keySize    = 16 // AES-128
	secretSize = 32 // SHA-256 output: the MLS hash ratchet's secret size
	nonceSize  = 12
)

// exporter is the one thing a DAVE key ratchet needs from an established MLS
// group: the MLS-exporter of RFC 9420 §8.5.
type exporter interface {
	Export(label string, context []byte, length int) ([]byte, error)
}

// senderBaseSecret derives the base secret of userID's key ratchet for the
// current epoch. The exporter context is the user ID in little-endian, unlike
// the credential's big-endian identity (whitepaper 1.1.1).
func senderBaseSecret(e exporter, userID uint64) ([]byte, error) {
	var ctx [8]byte
	binary.LittleEndian.PutUint64(ctx[:], userID)
	base, err := e.Export(senderKeyLabel, ctx[:], keySize)
	if err != nil {
		return nil, fmt.Errorf("dave: export sender key for %d: %w", userID, err)
	}
	if len(base) != keySize {
		return nil, fmt.Errorf("dave: export sender key for %d: got %d bytes, want %d", userID, len(base), keySize)
	}
	return base, nil
}

// expandWithLabel is MLS's ExpandWithLabel for cipher suite 2 (HKDF-SHA256).
func expandWithLabel(secret []byte, label string, context []byte, length int) ([]byte, error) {
	full := "MLS 1.0 " + label
	info := make([]byte, 0, 2+2+len(full)+2+len(context))
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = appendVarint(info, len(full))
	info = append(info, full...)
	info = appendVarint(info, len(context))
	info = append(info, context...)
	return hkdf.Expand(sha256.New, secret, string(info), length)
}

// appendVarint appends an MLS variable-length integer (RFC 9420 §2.1.2).
// Labels and contexts here are always short, so only the 1- and 2-byte forms occur.
func appendVarint(b []byte, n int) []byte {
	if n < 1<<6 {
		return append(b, byte(n))
	}
	return append(b, byte(n>>8)|0x40, byte(n))
}

var errExpiredGeneration = errors.New("dave: key generation already erased")

// keyRatchet is the MLS HashRatchet (RFC 9420 §9.1) over a sender's base
// secret. Keys are derived forward on demand and cached until erased, so
// out-of-order frames of older generations still decrypt.
type keyRatchet struct {
	next   uint32 // the generation nextSecret belongs to
	secret []byte // secret_next
	keys   map[uint32][keySize]byte
}

func newKeyRatchet(base []byte) *keyRatchet {
	return &keyRatchet{secret: append([]byte(nil), base...), keys: make(map[uint32][keySize]byte)}
}

// key returns the AES key of generation gen.
func (r *keyRatchet) key(gen uint32) ([keySize]byte, error) {
	if k, ok := r.keys[gen]; ok {
		return k, nil
	}
	if gen < r.next {
		return [keySize]byte{}, fmt.Errorf("%w: %d", errExpiredGeneration, gen)
	}
	for r.next <= gen {
		var ctx [4]byte
		binary.BigEndian.PutUint32(ctx[:], r.next)
		k, err := expandWithLabel(r.secret, "key", ctx[:], keySize)
		if err != nil {
			return [keySize]byte{}, fmt.Errorf("dave: ratchet key %d: %w", r.next, err)
		}
		next, err := expandWithLabel(r.secret, "secret", ctx[:], secretSize)
		if err != nil {
			return [keySize]byte{}, fmt.Errorf("dave: ratchet secret %d: %w", r.next, err)
		}
		r.keys[r.next] = [keySize]byte(k)
		r.secret = next
		r.next++
		if r.next == 0 { // 2^32 generations: cannot happen within a call's lifetime
			break
		}
	}
	k, ok := r.keys[gen]
	if !ok {
		return [keySize]byte{}, fmt.Errorf("%w: %d", errExpiredGeneration, gen)
	}
	return k, nil
}

// erase forgets the key of generation gen (forward secrecy for old generations).
func (r *keyRatchet) erase(gen uint32) { delete(r.keys, gen) }
