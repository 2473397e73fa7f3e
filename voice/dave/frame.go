package dave

import (
	"bytes"
	"errors"
	"fmt"
	"math"
)

// Layout of an encrypted DAVE frame (whitepaper "Payload Format"):
//
//	body (ciphertext with unencrypted ranges in place) ‖ tag[8] ‖ ULEB128(nonce) ‖
//	ULEB128 ranges ‖ supplemental size u8 ‖ FA FA
//
// The supplemental size counts everything after the body.
const (
	tagSize      = 8
	markerHi     = 0xFA
	markerLo     = 0xFA
	minTrailer   = tagSize + 1 + 2 // tag, size byte, marker: a nonce adds at least one more
	maxTrailer   = minTrailer + 5  // with the longest 32-bit nonce and no ranges (Opus)
	maxLEB128Len = 10
)

// silenceFrame is Opus's 20 ms silence, which DAVE senders never encrypt.
var silenceFrame = []byte{0xF8, 0xFF, 0xFE}

// byteRange is one unencrypted range of a frame (used by video codecs; Opus has none).
type byteRange struct{ offset, size uint64 }

// trailer is the supplemental data that ends an encrypted DAVE frame.
type trailer struct {
	tag    [tagSize]byte
	nonce  uint32 // truncated sync nonce; the top byte is the key generation
	ranges []byteRange
}

var errNotProtocolFrame = errors.New("dave: not a DAVE protocol frame")

// size returns the encoded trailer length (the supplemental size byte's value).
func (t *trailer) size() int {
	n := tagSize + leb128Len(uint64(t.nonce)) + 1 + 2
	for _, r := range t.ranges {
		n += leb128Len(r.offset) + leb128Len(r.size)
	}
	return n
}

// marshal appends the encoded trailer to b.
func (t *trailer) marshal(b []byte) ([]byte, error) {
	size := t.size()
	if size > math.MaxUint8 {
		return b, fmt.Errorf("dave: frame trailer of %d bytes exceeds 255", size)
	}
	b = append(b, t.tag[:]...)
	b = appendLEB128(b, uint64(t.nonce))
	for _, r := range t.ranges {
		b = appendLEB128(b, r.offset)
		b = appendLEB128(b, r.size)
	}
	return append(b, byte(size), markerHi, markerLo), nil
}

// parseFrame splits an encrypted frame into its body and trailer, with the
// checks of libdave's InboundFrameProcessor::ParseFrame. Any failure means the
// frame is not a protocol frame (and may be passed through when allowed).
// The returned trailer's ranges alias nothing in frame.
func parseFrame(frame []byte) (body []byte, t trailer, err error) {
	n := len(frame)
	if n < minTrailer {
		return nil, t, fmt.Errorf("%w: %d bytes", errNotProtocolFrame, n)
	}
	if frame[n-2] != markerHi || frame[n-1] != markerLo {
		return nil, t, fmt.Errorf("%w: no marker", errNotProtocolFrame)
	}
	size := int(frame[n-3])
	if size < minTrailer || size > n {
		return nil, t, fmt.Errorf("%w: supplemental size %d of %d", errNotProtocolFrame, size, n)
	}
	sup := frame[n-size : n-3]
	copy(t.tag[:], sup[:tagSize])
	rest := sup[tagSize:]
	nonce, k := readLEB128(rest)
	if k <= 0 {
		return nil, t, fmt.Errorf("%w: bad nonce", errNotProtocolFrame)
	}
	if nonce > math.MaxUint32 {
		return nil, t, fmt.Errorf("%w: nonce %d exceeds 32 bits", errNotProtocolFrame, nonce)
	}
	t.nonce = uint32(nonce)
	rest = rest[k:]
	for len(rest) > 0 {
		off, k := readLEB128(rest)
		if k <= 0 {
			return nil, t, fmt.Errorf("%w: bad range offset", errNotProtocolFrame)
		}
		rest = rest[k:]
		sz, k := readLEB128(rest)
		if k <= 0 {
			return nil, t, fmt.Errorf("%w: bad range size", errNotProtocolFrame)
		}
		rest = rest[k:]
		t.ranges = append(t.ranges, byteRange{off, sz})
	}
	body = frame[:n-size]
	// Ranges must be ascending, non-overlapping and inside the body.
	var end uint64
	for i, r := range t.ranges {
		if r.offset < end {
			return nil, t, fmt.Errorf("%w: range %d overlaps", errNotProtocolFrame, i)
		}
		if r.size > uint64(len(body)) || r.offset > uint64(len(body))-r.size {
			return nil, t, fmt.Errorf("%w: range %d outside the frame", errNotProtocolFrame, i)
		}
		end = r.offset + r.size
	}
	return body, t, nil
}

// isSilence reports whether frame is the Opus silence frame, always sent in clear.
func isSilence(frame []byte) bool { return bytes.Equal(frame, silenceFrame) }

func leb128Len(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func appendLEB128(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// readLEB128 decodes an unsigned LEB128 value; k is the number of bytes read,
// or 0 when b ends early or the value overflows 64 bits.
func readLEB128(b []byte) (v uint64, k int) {
	var shift uint
	for i, c := range b {
		if i == maxLEB128Len-1 && c > 1 {
			return 0, 0
		}
		v |= uint64(c&0x7F) << shift
		if c&0x80 == 0 {
			return v, i + 1
		}
		shift += 7
	}
	return 0, 0
}
