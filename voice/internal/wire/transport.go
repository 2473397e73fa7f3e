package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/pion/rtp"
	"golang.org/x/crypto/chacha20poly1305"
)

// Transport encryption modes still accepted by Discord (every other mode is
// refused with 4016).
const (
	ModeAES256GCM         = "aead_aes256_gcm_rtpsize"
	ModeXChaCha20Poly1305 = "aead_xchacha20_poly1305_rtpsize"
)

// SupportedModes lists the modes this package speaks, preferred first.
var SupportedModes = []string{ModeAES256GCM, ModeXChaCha20Poly1305}

// ChooseMode picks the first of SupportedModes that the server offers.
func ChooseMode(offered []string) (string, error) {
	for _, m := range SupportedModes {
		if slices.Contains(offered, m) {
			return m, nil
		}
	}
	return "", fmt.Errorf("voice: no supported encryption mode among %q", offered)
}

// RTP constants for Discord audio: payload type 120 (Opus), 48 kHz, 20 ms frames.
const (
	PayloadTypeOpus = 120
	FrameSamples    = 960 // per channel, 20 ms at 48 kHz
	rtpHeaderSize   = 12
	nonceSuffixSize = 4
)

// SilenceFrame is the Opus frame Discord expects five times at the end of speech.
var SilenceFrame = []byte{0xF8, 0xFF, 0xFE}

// Cipher seals and opens RTP packets with an rtpsize AEAD mode. Packet =
// unencrypted header (12 + 4·CC bytes, plus the 4-byte extension preamble when
// X=1) ‖ AEAD(ciphertext ‖ tag) ‖ 4 nonce bytes. The header is the AAD; the 4
// trailing bytes start the AEAD nonce, the rest of which is zero. A Cipher is
// safe for concurrent use.
type Cipher struct {
	aead cipher.AEAD
	mode string
}

// NewCipher returns the cipher for mode and the session's secret key.
func NewCipher(mode string, key SecretKey) (*Cipher, error) {
	var (
		a   cipher.AEAD
		err error
	)
	switch mode {
	case ModeAES256GCM:
		var b cipher.Block
		if b, err = aes.NewCipher(key[:]); err == nil {
			a, err = cipher.NewGCM(b)
		}
	case ModeXChaCha20Poly1305:
		a, err = chacha20poly1305.NewX(key[:])
	default:
		return nil, fmt.Errorf("voice: unsupported encryption mode %q", mode)
	}
	if err != nil {
		return nil, fmt.Errorf("voice: cipher %s: %w", mode, err)
	}
	return &Cipher{aead: a, mode: mode}, nil
}

// Mode returns the cipher's mode name.
func (c *Cipher) Mode() string { return c.mode }

// Overhead is the bytes a sealed packet adds to header and payload.
func (c *Cipher) Overhead() int { return c.aead.Overhead() + nonceSuffixSize }

func (c *Cipher) nonce(buf *[24]byte, suffix []byte) []byte {
	*buf = [24]byte{}
	copy(buf[:], suffix)
	return buf[:c.aead.NonceSize()]
}

// Seal appends to dst the packet for header h (no extension body: Discord's
// clients send none) and payload, using nonce as the 4-byte counter.
func (c *Cipher) Seal(dst []byte, h *rtp.Header, payload []byte, nonce uint32) ([]byte, error) {
	if h.Extension || h.Padding {
		return nil, errors.New("voice: seal: header extensions and padding are not sent")
	}
	start := len(dst)
	hl := h.MarshalSize()
	dst = slices.Grow(dst, hl+len(payload)+c.Overhead())
	dst = dst[:start+hl]
	if _, err := h.MarshalTo(dst[start:]); err != nil {
		return nil, fmt.Errorf("voice: seal: rtp header: %w", err)
	}
	var suffix [4]byte
	binary.BigEndian.PutUint32(suffix[:], nonce)
	var nb [24]byte
	dst = c.aead.Seal(dst, c.nonce(&nb, suffix[:]), payload, dst[start:start+hl])
	return append(dst, suffix[:]...), nil
}

// Packet is a received RTP packet after transport decryption: the header and
// the media payload (extension body and padding removed).
type Packet struct {
	Header  rtp.Header
	Payload []byte
}

var errPacket = errors.New("voice: rtp packet")

// Open decrypts packet and appends the plaintext to dst; p.Payload aliases the
// appended bytes. Packets that are not RTP version 2 are rejected.
func (c *Cipher) Open(dst, packet []byte) (p Packet, out []byte, err error) {
	hl, extWords, err := rtpsizeHeader(packet)
	if err != nil {
		return Packet{}, dst, err
	}
	if len(packet) < hl+c.aead.Overhead()+nonceSuffixSize {
		return Packet{}, dst, fmt.Errorf("%w: %d bytes is too short", errPacket, len(packet))
	}
	if err := unmarshalFixedHeader(&p.Header, packet[:hl]); err != nil {
		return Packet{}, dst, err
	}
	var nb [24]byte
	ct := packet[hl : len(packet)-nonceSuffixSize]
	start := len(dst)
	out, err = c.aead.Open(dst, c.nonce(&nb, packet[len(packet)-nonceSuffixSize:]), ct, packet[:hl])
	if err != nil {
		return Packet{}, dst, fmt.Errorf("%w: decrypt: %v", errPacket, err)
	}
	pt := out[start:]
	if n := extWords * 4; n > 0 {
		if n > len(pt) {
			return Packet{}, dst, fmt.Errorf("%w: extension body %d bytes exceeds payload", errPacket, n)
		}
		pt = pt[n:]
	}
	if p.Header.Padding {
		if len(pt) == 0 || int(pt[len(pt)-1]) > len(pt) || pt[len(pt)-1] == 0 {
			return Packet{}, dst, fmt.Errorf("%w: bad padding", errPacket)
		}
		p.Header.PaddingSize = pt[len(pt)-1]
		pt = pt[:len(pt)-int(pt[len(pt)-1])]
	}
	p.Payload = pt
	return p, out, nil
}

// rtpsizeHeader returns the length of the unencrypted header and the
// extension body's length in 32-bit words.
func rtpsizeHeader(b []byte) (hl, extWords int, err error) {
	if len(b) < rtpHeaderSize {
		return 0, 0, fmt.Errorf("%w: %d bytes is too short", errPacket, len(b))
	}
	if b[0]>>6 != 2 {
		return 0, 0, fmt.Errorf("%w: version %d", errPacket, b[0]>>6)
	}
	hl = rtpHeaderSize + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		hl += 4
		if len(b) < hl {
			return 0, 0, fmt.Errorf("%w: truncated extension preamble", errPacket)
		}
		extWords = int(binary.BigEndian.Uint16(b[hl-2:]))
	}
	if len(b) < hl {
		return 0, 0, fmt.Errorf("%w: truncated header", errPacket)
	}
	return hl, extWords, nil
}

// unmarshalFixedHeader parses the fixed header and CSRCs with pion/rtp; the
// extension preamble (whose body is encrypted) is recorded without parsing.
func unmarshalFixedHeader(h *rtp.Header, b []byte) error {
	var buf [rtpHeaderSize + 15*4]byte
	ext := b[0]&0x10 != 0
	n := len(b)
	if ext {
		n -= 4
	}
	copy(buf[:], b[:n])
	buf[0] &^= 0x10
	if _, err := h.Unmarshal(buf[:n]); err != nil {
		return fmt.Errorf("%w: header: %v", errPacket, err)
	}
	if ext {
		h.Extension = true
		h.ExtensionProfile = binary.BigEndian.Uint16(b[n:])
	}
	return nil
}

// IsOpusRTP reports whether a datagram looks like an audio RTP packet
// (version 2, payload type 120) rather than RTCP, a keepalive or discovery.
func IsOpusRTP(b []byte) bool {
	return len(b) >= rtpHeaderSize && b[0]>>6 == 2 && b[1]&0x7f == PayloadTypeOpus
}

// SealRaw appends header ‖ AEAD(plaintext) ‖ nonce to dst with header as the
// AAD, for packets Seal does not make: a test server's header extensions
// (header then ends with the 0xBEDE preamble and plaintext starts with the
// extension body), CSRCs and padding.
func (c *Cipher) SealRaw(dst, header, plaintext []byte, nonce uint32) []byte {
	start := len(dst)
	dst = append(dst, header...)
	var suffix [4]byte
	binary.BigEndian.PutUint32(suffix[:], nonce)
	var nb [24]byte
	dst = c.aead.Seal(dst, c.nonce(&nb, suffix[:]), plaintext, dst[start:start+len(header)])
	return append(dst, suffix[:]...)
}
