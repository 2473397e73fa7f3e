package voicetest

import (
	"math"
	"testing"

	"github.com/livecord/livecord/voice/internal/wire"

	"layeh.com/gopus"
)

func TestAlignedSNR(t *testing.T) {
	want := make([]float64, 48000)
	for i := range want {
		want[i] = 8000 * math.Sin(2*math.Pi*440*float64(i)/48000) * math.Sin(math.Pi*float64(i)/48000)
	}
	got := append(make([]float64, 123), want...)
	for i := range got {
		got[i] += float64(i%7) - 3 // a little noise
	}
	snr, lag := AlignedSNR(want, got, 500)
	if lag != 123 || snr < 50 {
		t.Fatalf("lag %d SNR %.1f dB, want lag 123 and a clean match", lag, snr)
	}
	if s := SNR(want, got, 0); s > 3 {
		t.Fatalf("misaligned SNR %.1f dB should be poor", s)
	}
}

func TestDecodeOpus(t *testing.T) {
	enc, err := gopus.NewEncoder(48000, 2, gopus.Audio)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, 2*wire.FrameSamples)
	for i := 0; i < wire.FrameSamples; i++ {
		v := int16(6000 * math.Sin(2*math.Pi*1000*float64(i)/48000))
		pcm[2*i], pcm[2*i+1] = v, v
	}
	var frames [][]byte
	for range 10 {
		f, err := enc.Encode(pcm, wire.FrameSamples, 4000)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	frames = append(frames, []byte{0xff, 0xff, 0xff})
	out, bad, err := DecodeOpus(frames)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 1 || len(out) != 11*wire.FrameSamples {
		t.Fatalf("%d samples, %d bad; want %d samples and the garbage frame counted", len(out), bad, 11*wire.FrameSamples)
	}
	var e float64
	for _, v := range out[5*wire.FrameSamples : 6*wire.FrameSamples] {
		e += v * v
	}
	if rms := math.Sqrt(e / wire.FrameSamples); rms < 2000 {
		t.Fatalf("decoded tone RMS %.0f: the frames did not decode to the tone", rms)
	}
}
