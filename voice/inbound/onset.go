package inbound

import "math"

// onsetDetector finds voiced onsets in 16 kHz mono audio, 10 ms at a time:
// a hop is voiced when its energy stands clear of a tracked noise floor and
// of an absolute minimum, and it is periodic at a speaking pitch; an onset
// is onsetHops voiced hops among the last four, after at least hangHops of
// quiet. design.go has the thresholds and why.
type onsetDetector struct {
	buf  [hop]int16 // the current partial hop
	fill int

	lo   [loLen]float32 // the last 30 ms decimated to 8 kHz, oldest first
	have int            // decimated samples of history in lo (up to loLen)

	floor  float64 // noise floor, dBFS
	recent uint8   // voiced flags of the last hops, newest in bit 0
	active bool    // inside a talkspurt (an onset was reported)
	quiet  int     // hops since the last loud one while active
}

const (
	hop    = 160 // 10 ms at 16 kHz
	loLen  = 240 // 30 ms at 8 kHz
	minLag = 20  // 400 Hz at 8 kHz
	maxLag = 133 // 60 Hz
	corrN  = loLen - maxLag
)

func newOnsetDetector() onsetDetector { return onsetDetector{floor: floorStartDB} }

// reset ends a talkspurt (the turn ended) but keeps the noise floor, which
// belongs to the speaker's microphone, not the turn.
func (d *onsetDetector) reset() {
	d.active, d.recent, d.quiet, d.fill, d.have = false, 0, 0, 0, 0
}

// feed analyses x and reports whether a voiced onset completed in it.
func (d *onsetDetector) feed(x []int16) bool {
	onset := false
	for len(x) > 0 {
		n := copy(d.buf[d.fill:], x)
		d.fill += n
		x = x[n:]
		if d.fill == hop {
			d.fill = 0
			if d.hop(d.buf[:]) {
				onset = true
			}
		}
	}
	return onset
}

func (d *onsetDetector) hop(h []int16) bool {
	// Decimate to 8 kHz (pair averages: enough low-pass for a pitch
	// estimate) into the history, and measure the hop's energy.
	copy(d.lo[:], d.lo[hop/2:])
	var sum float64
	for i := 0; i < hop; i += 2 {
		a, b := float64(h[i]), float64(h[i+1])
		sum += a*a + b*b
		d.lo[loLen-hop/2+i/2] = float32((a + b) / 2)
	}
	d.have = min(d.have+hop/2, loLen)
	e := 10 * math.Log10(sum/hop/(32768*32768)+1e-12) // dBFS, -120 for silence

	if e < d.floor {
		d.floor = e
	} else {
		d.floor = min(d.floor+floorRiseDB, floorMaxDB)
	}
	loud := e >= d.floor+onsetSNRDB && e >= minLevelDB

	if d.active {
		if e >= d.floor+hangSNRDB && e >= minLevelDB {
			d.quiet = 0
		} else if d.quiet++; d.quiet >= hangHops {
			d.active, d.recent = false, 0
		}
		return false
	}
	voiced := loud && d.have == loLen && d.periodicity() >= periodicityMin
	d.recent <<= 1
	if voiced {
		d.recent |= 1
	}
	if popcount4(d.recent) >= onsetHops {
		d.active, d.quiet = true, 0
		return true
	}
	return false
}

// periodicity is the largest normalised correlation of the newest corrN
// decimated samples with the same span lag samples earlier, over lags for
// 60–400 Hz: near 1 for voiced speech, low for noise, breath and clicks.
func (d *onsetDetector) periodicity() float64 {
	cur := d.lo[loLen-corrN:]
	var ec float64
	for _, v := range cur {
		ec += float64(v) * float64(v)
	}
	if ec == 0 {
		return 0
	}
	// Energy of the lagged span, slid one sample per lag.
	start := loLen - corrN - minLag
	var ep float64
	for _, v := range d.lo[start : start+corrN] {
		ep += float64(v) * float64(v)
	}
	best := 0.0
	for lag := minLag; lag <= maxLag; lag++ {
		past := d.lo[loLen-corrN-lag : loLen-lag]
		var c float32
		for i, v := range cur {
			c += v * past[i]
		}
		if c > 0 && ep > 0 {
			if r := float64(c) / math.Sqrt(ec*ep); r > best {
				best = r
			}
		}
		// Slide the lagged window one sample back for lag+1.
		if lag < maxLag {
			in := float64(d.lo[loLen-corrN-lag-1])
			out := float64(d.lo[loLen-lag-1])
			ep += in*in - out*out
			ep = max(ep, 0)
		}
	}
	return best
}

func popcount4(b uint8) int {
	b &= 0xf
	return int(b&1 + b>>1&1 + b>>2&1 + b>>3&1)
}
