package mls

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxVarint is the largest length the RFC 9420 §2.1.2 varint can carry (30 bits).
const maxVarint = 1<<30 - 1

var (
	errShort    = errors.New("mls: truncated input")
	errVarint   = errors.New("mls: invalid varint length")
	errTrailing = errors.New("mls: trailing bytes")
)

// reader decodes the TLS presentation language with MLS varint vectors. It is
// sticky: after the first error every read returns zero values, so decoders
// check r.err once at the end. Vector lengths are bounded by the input, so a
// hostile length can never make it allocate more than len(input).
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail(errShort)
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() uint8 {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) u16() uint16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

func (r *reader) u32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (r *reader) u64() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// varint reads an RFC 9420 §2.1.2 length, rejecting the reserved 11 prefix and
// non-minimal encodings.
func (r *reader) varint() int {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail(errShort)
		return 0
	}
	switch r.b[0] >> 6 {
	case 0:
		return int(r.u8())
	case 1:
		v := int(r.u16() & 0x3fff)
		if r.err == nil && v < 64 {
			r.fail(errVarint)
		}
		return v
	case 2:
		v := int(r.u32() & 0x3fffffff)
		if r.err == nil && v < 16384 {
			r.fail(errVarint)
		}
		return v
	default:
		r.fail(errVarint)
		return 0
	}
}

// vec reads a varint-prefixed opaque vector. The result aliases the input.
func (r *reader) vec() []byte {
	n := r.varint()
	b := r.take(n)
	if b == nil && r.err == nil {
		return []byte{}
	}
	return b
}

// sub returns a reader over a varint-prefixed vector, for vectors of structs.
func (r *reader) sub() *reader {
	b := r.vec()
	return &reader{b: b, err: r.err}
}

// done reports the error of a sub-reader back to its parent.
func (r *reader) join(s *reader) {
	if s.err != nil {
		r.fail(s.err)
	}
}

func (r *reader) optional() bool {
	switch r.u8() {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(errors.New("mls: invalid optional flag"))
		return false
	}
}

// finish returns the first error, or errTrailing if input remains.
func (r *reader) finish() error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return errTrailing
	}
	return nil
}

// u16s reads a vector of uint16.
func (r *reader) u16s() []uint16 {
	s := r.sub()
	var out []uint16
	for s.err == nil && len(s.b) > 0 {
		out = append(out, s.u16())
	}
	r.join(s)
	return out
}

// writer encodes the TLS presentation language with MLS varint vectors.
type writer struct {
	b []byte
}

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }

func appendVarint(b []byte, n int) []byte {
	switch {
	case n < 64:
		return append(b, byte(n))
	case n < 16384:
		return binary.BigEndian.AppendUint16(b, uint16(n)|0x4000)
	case n <= maxVarint:
		return binary.BigEndian.AppendUint32(b, uint32(n)|0x80000000)
	default:
		panic(fmt.Sprintf("mls: vector of %d bytes exceeds the varint range", n))
	}
}

func (w *writer) vec(b []byte) {
	w.b = appendVarint(w.b, len(b))
	w.b = append(w.b, b...)
}

// nested writes a varint-prefixed vector whose body is produced by f.
func (w *writer) nested(f func(w *writer)) {
	var s writer
	f(&s)
	w.vec(s.b)
}

func (w *writer) optional(present bool) {
	if present {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

func (w *writer) u16s(v []uint16) {
	w.nested(func(w *writer) {
		for _, x := range v {
			w.u16(x)
		}
	})
}

// vecBytes returns varint(len(b)) || b.
func vecBytes(b []byte) []byte {
	var w writer
	w.vec(b)
	return w.b
}

// clone copies b so decoded values do not alias caller buffers.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
