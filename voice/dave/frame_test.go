package dave

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestLEB128(t *testing.T) {
	for _, tc := range []struct {
		v   uint64
		enc []byte
	}{
		{0, []byte{0}},
		{1, []byte{1}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{300, []byte{0xac, 0x02}},
		{math.MaxUint32, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
		{math.MaxUint64, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	} {
		if got := appendLEB128(nil, tc.v); !bytes.Equal(got, tc.enc) {
			t.Errorf("appendLEB128(%d) = %x, want %x", tc.v, got, tc.enc)
		}
		if n := leb128Len(tc.v); n != len(tc.enc) {
			t.Errorf("leb128Len(%d) = %d, want %d", tc.v, n, len(tc.enc))
		}
		v, k := readLEB128(append(tc.enc, 0xAA))
		if v != tc.v || k != len(tc.enc) {
			t.Errorf("readLEB128(%x) = %d, %d", tc.enc, v, k)
		}
	}
	for _, bad := range [][]byte{nil, {0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}} {
		if _, k := readLEB128(bad); k != 0 {
			t.Errorf("readLEB128(%x) accepted", bad)
		}
	}
}

func TestTrailerRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   trailer
		body []byte
		enc  []byte // the encoded trailer
	}{
		{"opus nonce 1", trailer{tag: [8]byte{0x26, 0xc1, 0x3e, 0xd5, 0x39, 0x13, 0x49, 0x44}, nonce: 1},
			[]byte("seventeen bytes!!"), mustHex(t, "26c13ed539134944010cfafa")},
		{"nonce 128", trailer{nonce: 128}, []byte{1, 2, 3}, mustHex(t, "000000000000000080010dfafa")},
		{"generation 1", trailer{nonce: 1 << 24}, []byte{9}, mustHex(t, "000000000000000080808008"+"0ffafa")},
		{"ranges", trailer{nonce: 5, ranges: []byteRange{{0, 1}, {3, 2}}}, []byte{1, 2, 3, 4, 5, 6},
			mustHex(t, "0000000000000000050001030210fafa")},
		{"empty body", trailer{nonce: 2}, nil, mustHex(t, "0000000000000000020cfafa")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := tc.tr.marshal(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, tc.enc) {
				t.Fatalf("encoded %x, want %x", enc, tc.enc)
			}
			if int(enc[len(enc)-3]) != tc.tr.size() || tc.tr.size() != len(enc) {
				t.Fatalf("size byte %d, size() %d, len %d", enc[len(enc)-3], tc.tr.size(), len(enc))
			}
			frame := append(append([]byte(nil), tc.body...), enc...)
			body, got, err := parseFrame(frame)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, tc.body) || got.tag != tc.tr.tag || got.nonce != tc.tr.nonce ||
				len(got.ranges) != len(tc.tr.ranges) {
				t.Fatalf("parsed %x %+v", body, got)
			}
			for i := range got.ranges {
				if got.ranges[i] != tc.tr.ranges[i] {
					t.Fatalf("range %d = %+v", i, got.ranges[i])
				}
			}
		})
	}
}

func TestParseFrameRejects(t *testing.T) {
	valid := mustHex(t, "aabbcc"+"0000000000000000010cfafa")
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"short", mustHex(t, "00000000000000000bfafa")[:10]},
		{"silence", silenceFrame},
		{"no marker", append(append([]byte(nil), valid[:len(valid)-1]...), 0xFB)},
		{"size below minimum", mustHex(t, "aabbcc"+"0000000000000000010afafa")},
		{"size above length", mustHex(t, "0000000000000000010ffafa")},
		{"size leaves no nonce", mustHex(t, "aabbcc"+"00000000000000000bfafa")},
		{"unterminated nonce", mustHex(t, "aabbcc"+"0000000000000000800cfafa")},
		{"nonce over 32 bits", mustHex(t, "aa"+"0000000000000000"+"8080808010"+"10fafa")},
		{"dangling range offset", mustHex(t, "aabbcc"+"000000000000000001000dfafa")},
		{"range outside body", mustHex(t, "aabbcc"+"00000000000000000102020efafa")},
		{"ranges overlap", mustHex(t, "aabbccdd"+"000000000000000001"+"0002"+"0101"+"10fafa")},
		{"range overflow", mustHex(t, "aa"+"000000000000000001"+"01"+"ffffffffffffffffff01"+"17fafa")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := parseFrame(tc.frame); !errors.Is(err, errNotProtocolFrame) {
				t.Fatalf("parseFrame(%x) err = %v, want errNotProtocolFrame", tc.frame, err)
			}
		})
	}
	if _, _, err := parseFrame(valid); err != nil {
		t.Fatalf("control frame rejected: %v", err)
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add(mustHex(f, "aabbcc0000000000000000010cfafa"))
	f.Add(mustHex(f, "01020304050600000000000000000500010302"+"10fafa"))
	f.Add(silenceFrame)
	f.Add([]byte{0xfa, 0xfa})
	f.Add(mustHex(f, "ff0000000000000000ffffffff0f10fafa"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		body, tr, err := parseFrame(frame)
		if err != nil {
			return
		}
		// A parsed frame re-encodes to the same bytes.
		enc, err := tr.marshal(append([]byte(nil), body...))
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(enc, frame) && canonicalLEB(frame, body) {
			t.Fatalf("re-encoded %x, want %x", enc, frame)
		}
		// Decrypting garbage must fail cleanly, never panic.
		var d decryptor
		d.addRatchet(newKeyRatchet(make([]byte, 16)), epoch0)
		_, _ = d.decrypt(nil, frame, epoch0)
	})
}

// canonicalLEB reports whether the frame's trailer uses minimal LEB128
// encodings (non-minimal ones parse but re-encode shorter).
func canonicalLEB(frame, body []byte) bool {
	rest := frame[len(body)+tagSize : len(frame)-3]
	for len(rest) > 0 {
		_, k := readLEB128(rest)
		if k > 1 && rest[k-1] == 0 {
			return false
		}
		rest = rest[k:]
	}
	return true
}
