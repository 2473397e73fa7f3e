package resample

import (
	"encoding/binary"
	"slices"
	"testing"
)

// FuzzChunking feeds arbitrary samples in arbitrary chunks to an arbitrary
// rate pair: Process and Flush must never panic, must stay within OutLen and
// FlushLen, and the output must equal that of a single call.
//
// Input layout: byte 0 picks the rate pair, byte 1 the channel count (bit 0)
// and the portable kernel instead of the assembly one (bit 1); then a
// little-endian uint16 chunk length and that many samples (two bytes each),
// repeated.
func FuzzChunking(f *testing.F) {
	f.Add([]byte{3*5 + 4, 0, 4, 0, 1, 0, 2, 0, 3, 0, 4, 0})
	f.Add([]byte{4*5 + 2, 1, 3, 0, 0xff, 0x7f, 0, 0x80, 0xff, 0x7f, 1, 0, 0, 0x80})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{24, 3, 255, 255, 1, 2, 3})
	seed := []byte{2*5 + 4, 1}
	for i := 0; i < 40; i++ {
		seed = append(seed, byte(i%7), 0)
		for j := 0; j < i%7; j++ {
			seed = append(seed, byte(i*j*37), byte(i*101+j))
		}
	}
	f.Add(seed)
	f.Add(append([]byte{4*5 + 2, 2}, seed[2:]...)) // 48→16 mono, portable kernel
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		in, out := rates[int(data[0])%25/5], rates[int(data[0])%5]
		ch := 1 + int(data[1]&1)
		if data[1]&2 != 0 {
			defer func(v bool) { useAVX2 = v }(useAVX2)
			useAVX2 = false
		}
		r, err := New(in, out, ch)
		if err != nil {
			t.Fatal(err)
		}
		var all []int16
		var got []int16
		rest := data[2:]
		for len(rest) >= 2 {
			n := int(binary.LittleEndian.Uint16(rest)) % 4096
			rest = rest[2:]
			n = min(n, len(rest)/2)
			chunk := make([]int16, n)
			for i := range chunk {
				chunk[i] = int16(binary.LittleEndian.Uint16(rest[2*i:]))
			}
			rest = rest[2*n:]
			all = append(all, chunk...)
			before := len(got)
			got = r.Process(got, chunk)
			if len(got)-before > r.OutLen(n) {
				t.Fatalf("Process appended %d for %d input, OutLen %d", len(got)-before, n, r.OutLen(n))
			}
		}
		before := len(got)
		got = r.Flush(got)
		if len(got)-before > r.FlushLen() {
			t.Fatalf("Flush appended %d, FlushLen %d", len(got)-before, r.FlushLen())
		}
		if len(got)%ch != 0 {
			t.Fatalf("%d output values for %d channels", len(got), ch)
		}
		want := whole(r, all)
		if !slices.Equal(got, want) {
			t.Fatalf("chunked output (%d values) differs from single-call output (%d values)", len(got), len(want))
		}
	})
}
