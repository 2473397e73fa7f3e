package inbound

import "errors"

// maxPacketSamples is the longest an Opus packet may play: 120 ms at 48 kHz.
const maxPacketSamples = 5760

var errMalformed = errors.New("malformed Opus packet")

// packetSamples returns how many samples per channel at 48 kHz an Opus
// packet decodes to, from its TOC byte and frame count (RFC 6716 §3.1),
// checking the framing as far as the length is concerned. It lets the jitter
// buffer know a packet's duration without decoding it, size the decoder's
// output exactly, and reject garbage before it reaches libopus.
func packetSamples(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, errMalformed
	}
	toc := p[0]
	var per int // samples per frame at 48 kHz
	switch cfg := toc >> 3; {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		per = [4]int{480, 960, 1920, 2880}[cfg&3]
	case cfg < 16: // Hybrid: 10, 20 ms
		per = [2]int{480, 960}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		per = [4]int{120, 240, 480, 960}[cfg&3]
	}
	n := 1
	switch toc & 3 {
	case 0:
	case 1: // two frames of equal size
		if (len(p)-1)%2 != 0 {
			return 0, errMalformed
		}
		n = 2
	case 2: // two frames, the first's length coded
		l, used, ok := frameLen(p[1:])
		if !ok || 1+used+l > len(p) {
			return 0, errMalformed
		}
		n = 2
	case 3: // signalled count
		if len(p) < 2 {
			return 0, errMalformed
		}
		n = int(p[1] & 0x3f)
		if n == 0 {
			return 0, errMalformed
		}
	}
	if n*per > maxPacketSamples {
		return 0, errMalformed
	}
	return n * per, nil
}

// frameLen decodes a frame length (one or two bytes, RFC 6716 §3.2.1).
func frameLen(b []byte) (l, used int, ok bool) {
	if len(b) < 1 {
		return 0, 0, false
	}
	if b[0] < 252 {
		return int(b[0]), 1, true
	}
	if len(b) < 2 {
		return 0, 0, false
	}
	return int(b[1])*4 + int(b[0]), 2, true
}

// hasFEC reports whether a SILK or hybrid packet carries in-band FEC (LBRR)
// data for the frame before it. The SILK layer's first range-coded symbols
// are the mid channel's voice-activity flags, one per SILK frame, then its
// LBRR flag (RFC 6716 §4.2.3), each a bit of probability ½, so they are the
// leading bits of the first frame's first byte. Only the first Opus frame
// of a packet is looked at, which is the one whose FEC covers the previous
// packet; code 3 packets (never sent by Discord clients) report false.
func hasFEC(p []byte) bool {
	if len(p) < 2 || p[0]>>3 >= 16 {
		return false
	}
	var data []byte
	switch p[0] & 3 {
	case 0, 1:
		data = p[1:]
	case 2:
		_, used, ok := frameLen(p[1:])
		if !ok || 1+used >= len(p) {
			return false
		}
		data = p[1+used:]
	default:
		return false
	}
	silkFrames := 1 // hybrid, and SILK 10 and 20 ms
	if cfg := p[0] >> 3; cfg < 12 {
		silkFrames = [4]int{1, 1, 2, 3}[cfg&3]
	}
	return data[0]&(0x80>>silkFrames) != 0
}
