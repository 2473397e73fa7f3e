package opusq_test

import (
	"bytes"
	"testing"

	"github.com/livecord/livecord/voice/internal/opusq"
)

// TestEncodeMatchesGopus: Encode produces gopus's packets, frame for frame,
// from two encoders set up alike, and writes into the buffer it is given.
func TestEncodeMatchesGopus(t *testing.T) {
	in := stereo(synthetic(t))
	a, b := newEncoder(t, 64000, opusq.DefaultComplexity), newEncoder(t, 64000, opusq.DefaultComplexity)
	buf := make([]byte, 0, 1500)
	frames := min(len(in)/(2*opusq.FrameSamples), 100)
	for f := range frames {
		pcm := in[f*2*opusq.FrameSamples : (f+1)*2*opusq.FrameSamples]
		want, err := a.Encode(pcm, opusq.FrameSamples, 1500)
		if err != nil {
			t.Fatal(err)
		}
		got, err := opusq.Encode(b, pcm, opusq.FrameSamples, buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: %d bytes differ from gopus's %d", f, len(got), len(want))
		}
		if &got[0] != &buf[:1][0] {
			t.Fatal("Encode did not write into the buffer given")
		}
	}
	if _, err := opusq.Encode(b, in[:2*opusq.FrameSamples], opusq.FrameSamples, nil); err == nil {
		t.Error("Encode into a nil buffer succeeded")
	}
}
