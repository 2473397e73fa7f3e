package davetest

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// commitHeader is what the gateway reads from a commit to judge it.
type commitHeader struct {
	groupID []byte
	epoch   uint64
	sender  uint32 // member leaf index
	refs    [][]byte
}

// parseCommit reads an MLSMessage(PublicMessage) commit up to its proposal
// list. Commits carrying proposals by value are refused, as DAVE requires.
func parseCommit(b []byte) (*commitHeader, error) {
	r := reader{b: b}
	if v, wf := r.u16(), r.u16(); r.err == nil && (v != 1 || wf != 1) {
		return nil, fmt.Errorf("version %d wire format %d, want an MLS 1.0 PublicMessage", v, wf)
	}
	h := &commitHeader{groupID: r.vec()}
	h.epoch = r.u64()
	if st := r.u8(); r.err == nil && st != 1 {
		return nil, fmt.Errorf("sender type %d, want member", st)
	}
	h.sender = r.u32()
	r.vec() // authenticated_data
	if ct := r.u8(); r.err == nil && ct != 3 {
		return nil, fmt.Errorf("content type %d, want commit", ct)
	}
	props := reader{b: r.vec()}
	for r.err == nil && props.err == nil && len(props.b) > 0 {
		if t := props.u8(); t != 2 {
			return nil, errors.New("proposal by value")
		}
		h.refs = append(h.refs, props.vec())
	}
	if err := errors.Join(r.err, props.err); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return h, nil
}

type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) take(n int) []byte {
	if r.err != nil || n > len(r.b) {
		r.err = errShort
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// vec reads an MLS variable-length vector (RFC 9420 §2.1.2).
func (r *reader) vec() []byte {
	first := r.take(1)
	if first == nil {
		return nil
	}
	n := int(first[0] & 0x3f)
	switch first[0] >> 6 {
	case 1:
		n = n<<8 | int(r.u8())
	case 2:
		rest := r.take(3)
		if rest == nil {
			return nil
		}
		n = n<<24 | int(rest[0])<<16 | int(rest[1])<<8 | int(rest[2])
	case 3:
		r.err = errors.New("invalid varint")
		return nil
	}
	return r.take(n)
}
