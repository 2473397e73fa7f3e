// Package ogg writes and reads Ogg pages (RFC 3533) and encodes PCM as an
// Ogg/Opus file (RFC 7845), the compact fallback for reply audio that would
// be over Discord's upload limit as WAV.
//
// The writer keeps every packet whole on one page, which suits Opus (a packet
// is at most 1275 bytes per frame); the reader reassembles packets that span
// pages, as any Ogg stream may.
package ogg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Page header flags.
const (
	FlagContinued = 0x01 // the first packet continues one from the previous page
	FlagBOS       = 0x02 // first page of the stream
	FlagEOS       = 0x04 // last page of the stream
)

const (
	headerSize  = 27
	maxSegments = 255
	// MaxPacket is the largest packet the Writer accepts (one page's worth).
	MaxPacket = maxSegments*255 - 1
)

// Errors the reader returns (wrapped).
var (
	ErrCapture  = errors.New("ogg: missing OggS capture pattern")
	ErrVersion  = errors.New("ogg: unsupported stream structure version")
	ErrShort    = errors.New("ogg: truncated page")
	ErrChecksum = errors.New("ogg: page checksum mismatch")
)

// Page is one Ogg page.
type Page struct {
	Flags   byte
	Granule int64
	Serial  uint32
	Seq     uint32
	// Packets are the packet data on this page, in order. The first one
	// continues a packet from the previous page when Flags has
	// FlagContinued; the last one continues on the next page unless
	// Complete.
	Packets  [][]byte
	Complete bool
}

// MarshalBinary encodes the page with its checksum. Every packet but the
// last must be whole (the last one is left open unless Complete).
func (p Page) MarshalBinary() ([]byte, error) {
	var lacing []byte
	body := 0
	for i, pk := range p.Packets {
		last := i == len(p.Packets)-1
		n := len(pk)
		for n >= 255 {
			lacing = append(lacing, 255)
			n -= 255
		}
		if !last || p.Complete {
			lacing = append(lacing, byte(n))
		} else if n > 0 {
			return nil, fmt.Errorf("ogg: an open last packet must be a multiple of 255 bytes, got %d", len(pk))
		}
		body += len(pk)
	}
	if len(lacing) > maxSegments {
		return nil, fmt.Errorf("ogg: page needs %d segments, max %d", len(lacing), maxSegments)
	}
	b := make([]byte, headerSize+len(lacing), headerSize+len(lacing)+body)
	copy(b, "OggS")
	b[4] = 0
	b[5] = p.Flags
	binary.LittleEndian.PutUint64(b[6:], uint64(p.Granule))
	binary.LittleEndian.PutUint32(b[14:], p.Serial)
	binary.LittleEndian.PutUint32(b[18:], p.Seq)
	b[26] = byte(len(lacing))
	copy(b[headerSize:], lacing)
	for _, pk := range p.Packets {
		b = append(b, pk...)
	}
	binary.LittleEndian.PutUint32(b[22:], crc(b))
	return b, nil
}

// UnmarshalPage decodes the page at the start of b and returns it with its
// encoded length. Packet slices alias b.
func UnmarshalPage(b []byte) (Page, int, error) {
	var p Page
	if len(b) < headerSize {
		return p, 0, ErrShort
	}
	if string(b[:4]) != "OggS" {
		return p, 0, ErrCapture
	}
	if b[4] != 0 {
		return p, 0, ErrVersion
	}
	nseg := int(b[26])
	if len(b) < headerSize+nseg {
		return p, 0, ErrShort
	}
	lacing := b[headerSize : headerSize+nseg]
	size := headerSize + nseg
	for _, l := range lacing {
		size += int(l)
	}
	if len(b) < size {
		return p, 0, ErrShort
	}
	page := make([]byte, size)
	copy(page, b[:size])
	page[22], page[23], page[24], page[25] = 0, 0, 0, 0
	if crc(page) != binary.LittleEndian.Uint32(b[22:]) {
		return p, 0, ErrChecksum
	}
	p.Flags = b[5]
	p.Granule = int64(binary.LittleEndian.Uint64(b[6:]))
	p.Serial = binary.LittleEndian.Uint32(b[14:])
	p.Seq = binary.LittleEndian.Uint32(b[18:])
	off := headerSize + nseg
	start := off
	for _, l := range lacing {
		off += int(l)
		if l < 255 {
			p.Packets = append(p.Packets, b[start:off:off])
			start = off
		}
	}
	p.Complete = true
	if nseg > 0 && lacing[nseg-1] == 255 {
		p.Packets = append(p.Packets, b[start:off:off])
		p.Complete = false
	}
	return p, size, nil
}

// Packets returns the packets of the single logical stream in b, joining
// those that span pages.
func Packets(b []byte) ([][]byte, error) {
	var out [][]byte
	var open []byte
	opened := false
	for len(b) > 0 {
		p, n, err := UnmarshalPage(b)
		if err != nil {
			return out, fmt.Errorf("ogg: page %d: %w", len(out), err)
		}
		b = b[n:]
		for i, pk := range p.Packets {
			if i == 0 && p.Flags&FlagContinued != 0 && opened {
				pk = append(open, pk...)
			}
			opened = false
			if i == len(p.Packets)-1 && !p.Complete {
				open, opened = append([]byte(nil), pk...), true
				continue
			}
			out = append(out, append([]byte(nil), pk...))
		}
	}
	return out, nil
}

// Writer writes one logical Ogg stream, one whole packet per lacing run.
type Writer struct {
	w       io.Writer
	serial  uint32
	seq     uint32
	started bool
	closed  bool
	pending [][]byte
	granule int64
	nseg    int
}

// NewWriter returns a Writer of the stream with the given serial number.
func NewWriter(w io.Writer, serial uint32) *Writer { return &Writer{w: w, serial: serial} }

// WritePacket adds a packet ending at granule position granule. With flush
// the page is written right after it (Ogg/Opus needs its headers alone on
// their pages).
func (w *Writer) WritePacket(pk []byte, granule int64, flush bool) error {
	if w.closed {
		return errors.New("ogg: write after close")
	}
	if len(pk) > MaxPacket {
		return fmt.Errorf("ogg: packet of %d bytes is over %d", len(pk), MaxPacket)
	}
	segs := len(pk)/255 + 1
	if w.nseg+segs > maxSegments {
		if err := w.flush(0); err != nil {
			return err
		}
	}
	w.pending = append(w.pending, append([]byte(nil), pk...))
	w.nseg += segs
	w.granule = granule
	if flush {
		return w.flush(0)
	}
	return nil
}

// Close writes the last page, marked end of stream. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.flush(FlagEOS)
}

func (w *Writer) flush(flags byte) error {
	if len(w.pending) == 0 && flags == 0 {
		return nil
	}
	if !w.started {
		flags |= FlagBOS
		w.started = true
	}
	b, err := Page{Flags: flags, Granule: w.granule, Serial: w.serial, Seq: w.seq, Packets: w.pending, Complete: true}.MarshalBinary()
	if err != nil {
		return err
	}
	w.seq++
	w.pending, w.nseg = w.pending[:0], 0
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("ogg: write page: %w", err)
	}
	return nil
}

var crcTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// crc is Ogg's CRC-32 (polynomial 0x04c11db7, no reflection, zero init).
func crc(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	return c
}
