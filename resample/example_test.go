package resample_test

import (
	"fmt"
	"math"

	"github.com/livecord/livecord/resample"
)

// Gemini Live's 24 kHz mono reply arrives in chunks; each is converted as it
// comes and the filter tail is flushed when the turn ends.
func Example() {
	r, err := resample.New(24000, 48000, 1)
	if err != nil {
		panic(err)
	}
	reply := make([]int16, 24000) // one second of a 440 Hz tone
	for i := range reply {
		reply[i] = int16(10000 * math.Sin(2*math.Pi*440*float64(i)/24000))
	}
	// Size the output once; Process then never allocates.
	out := make([]int16, 0, r.OutLen(480)+r.FlushLen())
	total := 0
	for len(reply) > 0 {
		chunk := reply[:min(480, len(reply))] // 20 ms
		reply = reply[len(chunk):]
		out = r.Process(out[:0], chunk)
		total += len(out) // hand out to the encoder here
	}
	out = r.Flush(out[:0])
	total += len(out)
	// 48000 samples for the second, plus Delay() of lead-in before it
	// and Delay() of filter tail after it.
	fmt.Printf("delay %d samples (%.2f ms), %d samples for 1 s of input\n",
		r.Delay(), float64(r.Delay())/48, total)
	// Output:
	// delay 45 samples (0.94 ms), 48090 samples for 1 s of input
}
