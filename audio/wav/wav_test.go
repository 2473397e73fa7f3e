package wav_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/livecord/livecord/audio/wav"
)

func TestHeaderMarshal(t *testing.T) {
	tests := []struct {
		h    wav.Header
		want []byte // bytes 22..36: channels, rate, byte rate, block align, bits
	}{
		{wav.Header{SampleRate: 24000, Channels: 1, DataSize: 480}, le(1, 24000, 48000, 2, 16)},
		{wav.Header{SampleRate: 48000, Channels: 2, DataSize: 3840}, le(2, 48000, 192000, 4, 16)},
	}
	for _, tc := range tests {
		b, err := tc.h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != wav.HeaderSize || string(b[0:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || string(b[36:40]) != "data" {
			t.Fatalf("layout %q", b)
		}
		if got := binary.LittleEndian.Uint32(b[4:]); got != 36+tc.h.DataSize {
			t.Errorf("RIFF size %d", got)
		}
		if !bytes.Equal(b[22:36], tc.want) || binary.LittleEndian.Uint32(b[40:]) != tc.h.DataSize {
			t.Errorf("%+v: fmt % x", tc.h, b[20:44])
		}
	}
	for _, bad := range []wav.Header{{SampleRate: 24000, Channels: 3}, {SampleRate: 0, Channels: 1}} {
		if _, err := bad.MarshalBinary(); !errors.Is(err, wav.ErrUnsupported) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func le(ch uint16, rate, byteRate uint32, align, bits uint16) []byte {
	b := binary.LittleEndian.AppendUint16(nil, ch)
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, byteRate)
	b = binary.LittleEndian.AppendUint16(b, align)
	return binary.LittleEndian.AppendUint16(b, bits)
}

func TestEncodeDecode(t *testing.T) {
	samples := []int16{0, 1, -1, 32767, -32768, 1234}
	var pcm []byte
	for _, s := range samples {
		pcm = binary.LittleEndian.AppendUint16(pcm, uint16(s))
	}
	var buf bytes.Buffer
	if err := wav.Encode(&buf, 24000, 1, pcm); err != nil {
		t.Fatal(err)
	}
	f, err := wav.Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.SampleRate != 24000 || f.Channels != 1 || !slices.Equal(f.Samples(), samples) {
		t.Errorf("decoded %+v", f.Header)
	}
	if err := wav.Encode(&buf, 48000, 2, pcm[:6]); err == nil {
		t.Error("3 samples accepted as stereo")
	}
}

// The streaming writer patches sizes on Close; samples split across writes
// are fine as long as the total is whole frames.
func TestWriterFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wav")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := wav.NewWriter(fh, 48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSamples([]int16{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{4}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if w.Frames() != 2 {
		t.Errorf("frames %d", w.Frames())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	b, _ := os.ReadFile(path)
	f, err := wav.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Channels != 2 || f.SampleRate != 48000 || !slices.Equal(f.Samples(), []int16{1, 2, 3, 4}) {
		t.Errorf("got %+v %v", f.Header, f.Samples())
	}
}

func TestWriterRejectsPartialFrame(t *testing.T) {
	fh, err := os.Create(filepath.Join(t.TempDir(), "x.wav"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w, _ := wav.NewWriter(fh, 24000, 1)
	w.Write([]byte{1})
	if err := w.Close(); err == nil {
		t.Error("odd byte count accepted")
	}
}

func TestDecodeSkipsChunksAndTruncation(t *testing.T) {
	var buf bytes.Buffer
	wav.Encode(&buf, 24000, 1, []byte{1, 0, 2, 0, 3, 0})
	b := buf.Bytes()
	// Insert a LIST chunk (odd size, padded) between fmt and data.
	list := append([]byte("LIST"), 3, 0, 0, 0, 'a', 'b', 'c', 0)
	withList := slices.Concat(b[:36], list, b[36:])
	f, err := wav.Decode(withList)
	if err != nil || !slices.Equal(f.Samples(), []int16{1, 2, 3}) {
		t.Fatalf("with LIST: %v %v", err, f)
	}
	// A data size larger than the file (an unfinished stream) is cut.
	cut := slices.Clone(b[:len(b)-1])
	f, err = wav.Decode(cut)
	if err != nil || !slices.Equal(f.Samples(), []int16{1, 2}) {
		t.Fatalf("truncated: %v %v", err, f)
	}
	for _, bad := range [][]byte{nil, []byte("RIFF"), []byte("RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00")} {
		if _, err := wav.Decode(bad); !errors.Is(err, wav.ErrFormat) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	wav.Encode(&buf, 24000, 1, []byte{1, 0, 2, 0})
	f.Add(buf.Bytes())
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVELIST\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := wav.Decode(b)
		if err != nil {
			return
		}
		if len(file.Data)%(2*file.Channels) != 0 || int(file.DataSize) != len(file.Data) {
			t.Fatalf("decoded %d bytes for %d channels", len(file.Data), file.Channels)
		}
		var out bytes.Buffer
		if err := wav.Encode(&out, file.SampleRate, file.Channels, file.Data); err != nil {
			t.Fatal(err)
		}
		again, err := wav.Decode(out.Bytes())
		if err != nil || !bytes.Equal(again.Data, file.Data) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
