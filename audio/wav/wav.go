// Package wav writes and reads 16-bit PCM WAV files (RIFF/WAVE, format 1),
// mono or stereo, the format of livecord's reply attachments.
//
// Writer streams to an io.WriteSeeker and patches the sizes on Close;
// Encode writes a whole buffer to any io.Writer; Decode reads a file back
// (skipping unknown chunks such as LIST) for tests and tools.
package wav

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// HeaderSize is the size of the header Marshal produces: RIFF, fmt and data
// chunk headers.
const HeaderSize = 44

// maxData is the largest data chunk a RIFF size field can describe.
const maxData = 1<<32 - 1 - (HeaderSize - 8)

// Header describes a 16-bit PCM WAV stream.
type Header struct {
	SampleRate int
	Channels   int // 1 or 2
	// DataSize is the PCM byte count (a multiple of 2*Channels).
	DataSize uint32
}

// Errors Decode and Unmarshal return (wrapped).
var (
	ErrFormat      = errors.New("wav: not a RIFF/WAVE file")
	ErrUnsupported = errors.New("wav: only 16-bit PCM mono or stereo is supported")
)

func (h Header) validate() error {
	if h.Channels != 1 && h.Channels != 2 {
		return fmt.Errorf("%w: %d channels", ErrUnsupported, h.Channels)
	}
	if h.SampleRate <= 0 || h.SampleRate > 1<<20 {
		return fmt.Errorf("%w: sample rate %d", ErrUnsupported, h.SampleRate)
	}
	return nil
}

// MarshalBinary returns the 44-byte canonical header.
func (h Header) MarshalBinary() ([]byte, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	if h.DataSize > maxData {
		return nil, fmt.Errorf("wav: %d bytes of audio exceed the RIFF size limit", h.DataSize)
	}
	b := make([]byte, HeaderSize)
	le := binary.LittleEndian
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], HeaderSize-8+h.DataSize)
	copy(b[8:], "WAVE")
	copy(b[12:], "fmt ")
	le.PutUint32(b[16:], 16)
	le.PutUint16(b[20:], 1) // PCM
	le.PutUint16(b[22:], uint16(h.Channels))
	le.PutUint32(b[24:], uint32(h.SampleRate))
	le.PutUint32(b[28:], uint32(h.SampleRate*h.Channels*2)) // byte rate
	le.PutUint16(b[32:], uint16(h.Channels*2))              // block align
	le.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	le.PutUint32(b[40:], h.DataSize)
	return b, nil
}

// Encode writes a complete WAV file holding pcm (16-bit little-endian
// samples, interleaved when stereo).
func Encode(w io.Writer, sampleRate, channels int, pcm []byte) error {
	if len(pcm)%(2*max(channels, 1)) != 0 {
		return fmt.Errorf("wav: %d bytes is not a whole number of frames", len(pcm))
	}
	if uint64(len(pcm)) > maxData {
		return fmt.Errorf("wav: %d bytes of audio exceed the RIFF size limit", len(pcm))
	}
	hdr, err := Header{SampleRate: sampleRate, Channels: channels, DataSize: uint32(len(pcm))}.MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("wav: write header: %w", err)
	}
	if _, err := w.Write(pcm); err != nil {
		return fmt.Errorf("wav: write data: %w", err)
	}
	return nil
}

// Writer streams PCM16 into a WAV file, fixing up the header on Close.
type Writer struct {
	w      io.WriteSeeker
	hdr    Header
	n      uint64
	closed bool
}

// NewWriter writes a provisional header to w and returns a Writer. w must
// be positioned where the file starts.
func NewWriter(w io.WriteSeeker, sampleRate, channels int) (*Writer, error) {
	h := Header{SampleRate: sampleRate, Channels: channels}
	b, err := h.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("wav: write header: %w", err)
	}
	return &Writer{w: w, hdr: h}, nil
}

// Write appends PCM16LE bytes (interleaved when stereo). Calls may split
// frames; Close fails if the total is not whole frames.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("wav: write after close")
	}
	if w.n+uint64(len(p)) > maxData {
		return 0, errors.New("wav: audio exceeds the RIFF size limit")
	}
	n, err := w.w.Write(p)
	w.n += uint64(n)
	if err != nil {
		return n, fmt.Errorf("wav: write data: %w", err)
	}
	return n, nil
}

// WriteSamples appends samples (interleaved when stereo).
func (w *Writer) WriteSamples(s []int16) error {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	_, err := w.Write(b)
	return err
}

// Frames returns the number of whole frames written so far.
func (w *Writer) Frames() int { return int(w.n / uint64(2*w.hdr.Channels)) }

// Close rewrites the header with the final sizes. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.n%uint64(2*w.hdr.Channels) != 0 {
		return fmt.Errorf("wav: %d bytes is not a whole number of frames", w.n)
	}
	w.hdr.DataSize = uint32(w.n)
	b, err := w.hdr.MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := w.w.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("wav: seek to header: %w", err)
	}
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("wav: rewrite header: %w", err)
	}
	if _, err := w.w.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("wav: seek to end: %w", err)
	}
	return nil
}

// File is a decoded WAV file.
type File struct {
	Header
	// Data is the PCM16LE payload (interleaved when stereo).
	Data []byte
}

// Samples returns Data as int16 samples.
func (f *File) Samples() []int16 {
	s := make([]int16, len(f.Data)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(f.Data[2*i:]))
	}
	return s
}

// Decode parses a 16-bit PCM WAV file. Unknown chunks are skipped; a data
// chunk longer than the file (as streaming writers leave it) is cut to what
// is present, rounded down to whole frames.
func Decode(b []byte) (*File, error) {
	le := binary.LittleEndian
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, ErrFormat
	}
	var f File
	haveFmt := false
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), uint64(le.Uint32(b[off+4:]))
		body := b[off+8:]
		switch id {
		case "fmt ":
			if size < 16 || uint64(len(body)) < 16 {
				return nil, fmt.Errorf("%w: short fmt chunk", ErrFormat)
			}
			if le.Uint16(body[0:]) != 1 || le.Uint16(body[14:]) != 16 {
				return nil, fmt.Errorf("%w: format %d, %d bits", ErrUnsupported, le.Uint16(body[0:]), le.Uint16(body[14:]))
			}
			f.Channels, f.SampleRate = int(le.Uint16(body[2:])), int(le.Uint32(body[4:]))
			if err := f.Header.validate(); err != nil {
				return nil, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: data before fmt", ErrFormat)
			}
			n := min(size, uint64(len(body)))
			n -= n % uint64(2*f.Channels)
			f.Data = body[:n]
			f.DataSize = uint32(n)
			return &f, nil
		}
		next := uint64(off) + 8 + size + size&1 // chunks are word-aligned
		if next > uint64(len(b)) {
			break
		}
		off = int(next)
	}
	return nil, fmt.Errorf("%w: no data chunk", ErrFormat)
}
