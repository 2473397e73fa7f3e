package ogg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"layeh.com/gopus"
)

// Opus encoding parameters for speech replies.
const (
	// OpusBitrate is the encoder's target (bits/s): clear speech at about
	// 240 KB per minute, over 40 minutes under Discord's 10 MiB.
	OpusBitrate = 32000
	// opusPreSkip is libopus's encoder delay in 48 kHz samples (the value
	// opusenc writes).
	opusPreSkip = 312
	frameMillis = 20
)

// OpusHead is the identification header of an Ogg/Opus stream (RFC 7845 §5.1).
type OpusHead struct {
	Channels        int
	PreSkip         int
	InputSampleRate int
	OutputGain      int16
}

// MarshalBinary encodes the 19-byte header (channel mapping family 0).
func (h OpusHead) MarshalBinary() ([]byte, error) {
	if h.Channels < 1 || h.Channels > 2 {
		return nil, fmt.Errorf("ogg: opus head: %d channels (mapping family 0 allows 1 or 2)", h.Channels)
	}
	b := make([]byte, 19)
	copy(b, "OpusHead")
	b[8] = 1
	b[9] = byte(h.Channels)
	binary.LittleEndian.PutUint16(b[10:], uint16(h.PreSkip))
	binary.LittleEndian.PutUint32(b[12:], uint32(h.InputSampleRate))
	binary.LittleEndian.PutUint16(b[16:], uint16(h.OutputGain))
	b[18] = 0
	return b, nil
}

// UnmarshalBinary decodes an OpusHead packet.
func (h *OpusHead) UnmarshalBinary(b []byte) error {
	if len(b) < 19 || string(b[:8]) != "OpusHead" {
		return errors.New("ogg: not an OpusHead packet")
	}
	if b[8]>>4 != 0 {
		return fmt.Errorf("ogg: opus head version %d unsupported", b[8])
	}
	h.Channels = int(b[9])
	h.PreSkip = int(binary.LittleEndian.Uint16(b[10:]))
	h.InputSampleRate = int(binary.LittleEndian.Uint32(b[12:]))
	h.OutputGain = int16(binary.LittleEndian.Uint16(b[16:]))
	return nil
}

func opusTags() []byte {
	vendor := "livecord"
	b := make([]byte, 0, 8+4+len(vendor)+4)
	b = append(b, "OpusTags"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vendor)))
	b = append(b, vendor...)
	return binary.LittleEndian.AppendUint32(b, 0)
}

// EncodeOpus writes pcm (16-bit little-endian mono at sampleRate: 8, 12,
// 16, 24 or 48 kHz) as an Ogg/Opus file of 20 ms frames. The last frame is
// padded with silence and the end trimmed by the final granule position, so
// a decoder yields exactly len(pcm)/2 samples (at the input rate).
func EncodeOpus(w io.Writer, sampleRate int, pcm []byte) error {
	switch sampleRate {
	case 8000, 12000, 16000, 24000, 48000:
	default:
		return fmt.Errorf("ogg: opus cannot encode at %d Hz", sampleRate)
	}
	enc, err := gopus.NewEncoder(sampleRate, 1, gopus.Audio)
	if err != nil {
		return fmt.Errorf("ogg: opus encoder: %w", err)
	}
	enc.SetBitrate(OpusBitrate)
	ow := NewWriter(w, 0x6c697665) // "live"
	head, _ := OpusHead{Channels: 1, PreSkip: opusPreSkip, InputSampleRate: sampleRate}.MarshalBinary()
	if err := ow.WritePacket(head, 0, true); err != nil {
		return err
	}
	if err := ow.WritePacket(opusTags(), 0, true); err != nil {
		return err
	}
	frame := sampleRate * frameMillis / 1000
	per48 := 48000 / sampleRate
	total := len(pcm) / 2
	end := int64(opusPreSkip + total*per48)
	buf := make([]int16, frame)
	for off := 0; off < total || off == 0; off += frame {
		clear(buf)
		for i := 0; i < frame && off+i < total; i++ {
			buf[i] = int16(binary.LittleEndian.Uint16(pcm[2*(off+i):]))
		}
		pk, err := enc.Encode(buf, frame, 1275)
		if err != nil {
			return fmt.Errorf("ogg: opus encode: %w", err)
		}
		granule := min(int64(opusPreSkip+(off+frame)*per48), end)
		// A page per second keeps seeking cheap and the header overhead low.
		flush := (off/frame+1)%(1000/frameMillis) == 0
		if err := ow.WritePacket(pk, granule, flush); err != nil {
			return err
		}
		if total == 0 {
			break
		}
	}
	return ow.Close()
}
