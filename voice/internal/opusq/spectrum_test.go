package opusq_test

import (
	"math"
	"math/cmplx"

	"github.com/livecord/livecord/voice/internal/opusq"
)

// barkEdges are Zwicker's critical-band edges (Hz) up to 20 kHz.
var barkEdges = []float64{0, 100, 200, 300, 400, 510, 630, 770, 920, 1080, 1270, 1480, 1720, 2000,
	2320, 2700, 3150, 3700, 4400, 5300, 6400, 7700, 9500, 12000, 15500, 20000}

// bandDistortion is a phase-blind companion to segSNR: the mean over 20 ms
// speech segments of the RMS difference (dB) between the critical-band
// energies of ref and got. segSNR rewards matching the waveform; Opus's
// perceptual tools (CELT's spreading and band-energy preservation, SILK's
// noise shaping, the hybrid mode's parametric high band) deliberately keep
// band energies instead, so a lower segSNR alone does not mean worse
// sound. 0 dB is identical spectra; lower is better.
func bandDistortion(ref, got []int16) float64 {
	const seg = opusq.FrameSamples
	bands := func(x []int16) []float64 {
		buf := make([]complex128, fftSize)
		for i, w := range hann {
			buf[i] = complex(float64(x[i])*w, 0)
		}
		fft(buf)
		e := make([]float64, len(barkEdges)-1)
		for k := 1; k < fftSize/2; k++ {
			if b := binBand[k]; b >= 0 {
				e[b] += real(buf[k])*real(buf[k]) + imag(buf[k])*imag(buf[k])
			}
		}
		return e
	}
	type frame struct {
		r, g  []float64
		total float64
	}
	var frames []frame
	var loudest float64
	for i := 0; i+seg <= len(ref); i += seg {
		f := frame{r: bands(ref[i : i+seg]), g: bands(got[i : i+seg])}
		for _, v := range f.r {
			f.total += v
		}
		loudest = max(loudest, f.total)
		frames = append(frames, f)
	}
	var sum float64
	var count int
	for _, f := range frames {
		if f.total < loudest*1e-4 {
			continue // a pause, as in segSNR
		}
		floor := f.total * 1e-5 // bands 50 dB below the frame are inaudible
		var sq float64
		for b := range f.r {
			d := 10 * math.Log10((f.g[b]+floor)/(f.r[b]+floor))
			sq += d * d
		}
		sum += math.Sqrt(sq / float64(len(f.r)))
		count++
	}
	if count == 0 {
		return math.NaN()
	}
	return sum / float64(count)
}

const fftSize = 1024

// hann windows a 20 ms segment; binBand maps each FFT bin to its critical
// band (-1 above 20 kHz); twiddles[k] = exp(-2πik/fftSize).
var hann, binBand, twiddles = func() ([]float64, []int, []complex128) {
	w := make([]float64, opusq.FrameSamples)
	for i := range w {
		w[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(len(w)))
	}
	band := make([]int, fftSize/2)
	for k := range band {
		band[k] = -1
		hz := float64(k) * 48000 / fftSize
		for b := range len(barkEdges) - 1 {
			if hz >= barkEdges[b] && hz < barkEdges[b+1] {
				band[k] = b
			}
		}
	}
	tw := make([]complex128, fftSize/2)
	for k := range tw {
		tw[k] = cmplx.Exp(complex(0, -2*math.Pi*float64(k)/fftSize))
	}
	return w, band, tw
}()

// fft is an in-place radix-2 FFT of fftSize points.
func fft(x []complex128) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j |= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		step := n / size
		for start := 0; start < n; start += size {
			for k := range size / 2 {
				a, b := x[start+k], x[start+k+size/2]*twiddles[k*step]
				x[start+k], x[start+k+size/2] = a+b, a-b
			}
		}
	}
}
