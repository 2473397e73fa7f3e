package measure

import (
	"math"
	"testing"
)

func TestAmplitudeAndSNR(t *testing.T) {
	const rate = 48000
	x := make([]float64, rate)
	for n := range x {
		x[n] = 1000*math.Sin(2*math.Pi*997*float64(n)/rate+0.3) + 1e-3*math.Sin(2*math.Pi*5003*float64(n)/rate)
	}
	if a := Amplitude(x, rate, 997); math.Abs(a-1000) > 1e-6 {
		t.Errorf("Amplitude at 997 Hz = %v, want 1000", a)
	}
	if a := Amplitude(x, rate, 5003); math.Abs(a-1e-3) > 1e-9 {
		t.Errorf("Amplitude at 5003 Hz = %v, want 1e-3", a)
	}
	// 1000 against 0.001: 120 dB.
	if snr := SNR(x, rate, 997); math.Abs(snr-120) > 0.01 {
		t.Errorf("SNR = %.3f dB, want 120", snr)
	}
}

func TestSpur(t *testing.T) {
	for _, c := range []struct {
		hz      float64
		in, out int
		want    float64
	}{
		{1000, 24000, 48000, 23000}, // image about 12 kHz
		{3000, 12000, 16000, 7000},  // image at 9 kHz folds about 8 kHz
		{10007, 48000, 16000, 5993}, // alias about 8 kHz
		{17011, 48000, 16000, 1011},
		{23993, 48000, 24000, 7},
	} {
		if got := Spur(c.hz, c.in, c.out); got != c.want {
			t.Errorf("Spur(%v, %d, %d) = %v, want %v", c.hz, c.in, c.out, got, c.want)
		}
	}
}
