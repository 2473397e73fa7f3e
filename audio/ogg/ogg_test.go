package ogg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"layeh.com/gopus"
)

func TestCRC(t *testing.T) {
	// CRC-32/POSIX without its final inversion.
	if got, want := crc([]byte("123456789")), uint32(0x765E7680^0xFFFFFFFF); got != want {
		t.Fatalf("crc = %#x, want %#x", got, want)
	}
}

func TestPageRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 600)
	tests := []struct {
		name string
		page Page
	}{
		{"empty", Page{Flags: FlagEOS, Granule: -1, Serial: 1, Seq: 9, Complete: true}},
		{"one", Page{Flags: FlagBOS, Granule: 960, Serial: 2, Packets: [][]byte{[]byte("abc")}, Complete: true}},
		{"exact255", Page{Packets: [][]byte{bytes.Repeat([]byte{1}, 255), {2}}, Complete: true}},
		{"big", Page{Packets: [][]byte{big, {}, []byte("x")}, Complete: true}},
		{"open", Page{Flags: FlagContinued, Packets: [][]byte{[]byte("tail"), bytes.Repeat([]byte{3}, 510)}, Complete: false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.page.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			got, n, err := UnmarshalPage(append(b, "trailing"...))
			if err != nil {
				t.Fatal(err)
			}
			if n != len(b) || got.Flags != tt.page.Flags || got.Granule != tt.page.Granule ||
				got.Serial != tt.page.Serial || got.Seq != tt.page.Seq || got.Complete != tt.page.Complete ||
				len(got.Packets) != len(tt.page.Packets) {
				t.Fatalf("got %+v (n=%d), want %+v", got, n, tt.page)
			}
			for i := range got.Packets {
				if !bytes.Equal(got.Packets[i], tt.page.Packets[i]) {
					t.Fatalf("packet %d differs", i)
				}
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	good, _ := Page{Packets: [][]byte{[]byte("hello")}, Complete: true}.MarshalBinary()
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)-1] ^= 1
	badVersion := append([]byte(nil), good...)
	badVersion[4] = 1
	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"short", good[:10], ErrShort},
		{"body short", good[:len(good)-1], ErrShort},
		{"capture", append([]byte("Oggs"), good[4:]...), ErrCapture},
		{"version", badVersion, ErrVersion},
		{"checksum", corrupt, ErrChecksum},
	} {
		if _, _, err := UnmarshalPage(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestPacketsAcrossPages(t *testing.T) {
	long := bytes.Repeat([]byte("z"), 255*2+4)
	p1, _ := Page{Flags: FlagBOS, Packets: [][]byte{[]byte("a"), long[:510]}, Complete: false}.MarshalBinary()
	p2, _ := Page{Flags: FlagContinued | FlagEOS, Seq: 1, Packets: [][]byte{long[510:], []byte("b")}, Complete: true}.MarshalBinary()
	got, err := Packets(append(p1, p2...))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got[0]) != "a" || !bytes.Equal(got[1], long) || string(got[2]) != "b" {
		t.Fatalf("packets = %q", got)
	}
}

func TestWriterPagesAndEOS(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, 42)
	if err := w.WritePacket([]byte("head"), 0, true); err != nil {
		t.Fatal(err)
	}
	for i := range 300 { // more packets than one page's 255 segments
		if err := w.WritePacket([]byte{byte(i)}, int64(i+1)*960, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	var pages []Page
	for len(b) > 0 {
		p, n, err := UnmarshalPage(b)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
		b = b[n:]
	}
	if len(pages) != 3 || pages[0].Flags != FlagBOS || pages[2].Flags != FlagEOS ||
		pages[2].Granule != 300*960 || pages[1].Seq != 1 || pages[1].Serial != 42 {
		t.Fatalf("pages: %d, flags %v", len(pages), []byte{pages[0].Flags, pages[len(pages)-1].Flags})
	}
	if err := w.WritePacket(nil, 0, false); err == nil {
		t.Fatal("write after close succeeded")
	}
	if err := NewWriter(&buf, 1).WritePacket(make([]byte, MaxPacket+1), 0, false); err == nil {
		t.Fatal("oversized packet accepted")
	}
}

func sine(rate, n int, hz float64) []byte {
	pcm := make([]byte, 2*n)
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(v))
	}
	return pcm
}

func TestEncodeOpusDecodes(t *testing.T) {
	const rate = 24000
	n := rate + 123 // not a whole number of frames
	pcm := sine(rate, n, 440)
	var buf bytes.Buffer
	if err := EncodeOpus(&buf, rate, pcm); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > len(pcm)/4 {
		t.Fatalf("ogg/opus is %d bytes for %d of PCM: not compressed", buf.Len(), len(pcm))
	}
	pkts, err := Packets(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var head OpusHead
	if err := head.UnmarshalBinary(pkts[0]); err != nil {
		t.Fatal(err)
	}
	if head.Channels != 1 || head.InputSampleRate != rate || head.PreSkip != opusPreSkip || string(pkts[1][:8]) != "OpusTags" {
		t.Fatalf("headers: %+v %q", head, pkts[1][:8])
	}
	// Final granule: pre-skip + the input's length at 48 kHz.
	b := buf.Bytes()
	var last Page
	for len(b) > 0 {
		p, k, _ := UnmarshalPage(b)
		last, b = p, b[k:]
	}
	if last.Flags&FlagEOS == 0 || last.Granule != int64(opusPreSkip+n*2) {
		t.Fatalf("last page flags %#x granule %d, want EOS and %d", last.Flags, last.Granule, opusPreSkip+n*2)
	}
	dec, err := gopus.NewDecoder(rate, 1)
	if err != nil {
		t.Fatal(err)
	}
	var out []int16
	for _, pk := range pkts[2:] {
		s, err := dec.Decode(pk, 480, false)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s...)
	}
	skip := opusPreSkip / 2
	out = out[skip : skip+n]
	// Compare energy-normalised correlation with the input: lossy, but the
	// same tone.
	var dot, ea, eb float64
	for i, v := range out {
		a := float64(int16(binary.LittleEndian.Uint16(pcm[2*i:])))
		dot += a * float64(v)
		ea += a * a
		eb += float64(v) * float64(v)
	}
	if c := dot / math.Sqrt(ea*eb); c < 0.95 {
		t.Fatalf("decoded audio correlates %.3f with the input", c)
	}
}

func TestEncodeOpusRejectsRate(t *testing.T) {
	if err := EncodeOpus(&bytes.Buffer{}, 44100, nil); err == nil {
		t.Fatal("44.1 kHz accepted")
	}
}

func FuzzUnmarshalPage(f *testing.F) {
	p, _ := Page{Flags: FlagBOS, Packets: [][]byte{[]byte("OpusHead"), bytes.Repeat([]byte{1}, 300)}, Complete: true}.MarshalBinary()
	f.Add(p)
	f.Add([]byte("OggS"))
	f.Add(append(p, p...))
	f.Fuzz(func(t *testing.T, b []byte) {
		page, n, err := UnmarshalPage(b)
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		if again, err := page.MarshalBinary(); err == nil && page.Complete && !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoding differs")
		}
		_, _ = Packets(b)
		var h OpusHead
		for _, pk := range page.Packets {
			_ = h.UnmarshalBinary(pk)
		}
	})
}
