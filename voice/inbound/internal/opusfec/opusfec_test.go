package opusfec

import (
	"math"
	"testing"

	"layeh.com/gopus"
)

// TestEnable: with FEC on and loss expected, 20 ms SILK packets carry the
// LBRR flag (the second bit of the first byte after the TOC, RFC 6716
// §4.2.3); with the encoder's defaults none do.
func TestEnable(t *testing.T) {
	flagged := func(fec bool) (n, total int) {
		enc, err := gopus.NewEncoder(48000, 2, gopus.Voip)
		if err != nil {
			t.Fatal(err)
		}
		enc.SetBitrate(24000)
		if fec {
			if err := Enable(enc, 20); err != nil {
				t.Fatal(err)
			}
		}
		pcm := make([]int16, 1920)
		for f := 0; f < 50; f++ {
			// A voice-like buzz (150 Hz with harmonics) so SILK codes it as speech.
			for i := 0; i < 960; i++ {
				x := 2 * math.Pi * 150 * float64(f*960+i) / 48000
				v := int16(5000*math.Sin(x) + 2500*math.Sin(2*x) + 1200*math.Sin(3*x))
				pcm[2*i], pcm[2*i+1] = v, v
			}
			p, err := enc.Encode(pcm, 960, 4000)
			if err != nil {
				t.Fatal(err)
			}
			if p[0]>>3 < 16 && p[0]&3 == 0 && len(p) > 1 { // SILK or hybrid, one frame
				total++
				if p[1]&0x40 != 0 {
					n++
				}
			}
		}
		return n, total
	}
	if n, total := flagged(false); n != 0 || total < 40 {
		t.Errorf("FEC off: %d of %d SILK packets flagged", n, total)
	}
	if n, total := flagged(true); n < total/4 || total < 40 {
		t.Errorf("FEC on: %d of %d SILK packets flagged", n, total)
	}
}
