package inbound

import (
	"testing"

	"layeh.com/gopus"
)

// TestPacketSamples: the duration read from the TOC is what libopus
// decodes, for every frame size an encoder makes, and garbage is refused.
func TestPacketSamples(t *testing.T) {
	pcm := tone(48000, 300, 8000, 48000)
	dec, err := gopus.NewDecoder(48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range []gopus.Application{gopus.Voip, gopus.Audio, gopus.RestrictedLowDelay} {
		for _, frame := range []int{120, 240, 480, 960, 1920, 2880} {
			if app != gopus.RestrictedLowDelay && frame < 480 {
				continue // SILK cannot do under 10 ms; the encoder would switch to CELT anyway
			}
			for _, p := range encodeMono(t, pcm[:frame*5], frame, app, 32000, 0) {
				n, err := packetSamples(p)
				if err != nil || n != frame {
					t.Fatalf("app %d frame %d: packetSamples = %d, %v", app, frame, n, err)
				}
				out, err := dec.Decode(p, n, false)
				if err != nil || len(out) != 2*n {
					t.Fatalf("app %d frame %d: decoded %d, %v", app, frame, len(out), err)
				}
			}
		}
	}
	for _, bad := range [][]byte{
		nil,
		{0xfb},                   // code 3 without a count byte
		{0xfb, 0x00},             // code 3, zero frames
		{0xfb, 0x3f},             // 63 × 20 ms: over 120 ms
		{0x09, 0x01, 0x02, 0x03}, // code 1 with an odd remainder
		{0x0a, 0xff},             // code 2, length byte needs a second byte
		{0x0a, 0x05, 0x01},       // code 2, first frame longer than the packet
	} {
		if n, err := packetSamples(bad); err == nil {
			t.Errorf("packetSamples(%x) = %d, want an error", bad, n)
		}
	}
	if n, err := packetSamples([]byte{0xf8, 0xff, 0xfe}); err != nil || n != 960 {
		t.Errorf("silence frame: %d, %v", n, err)
	}
}

// TestHasFEC: the LBRR flag read from the first byte says which packets
// carry FEC: none when the encoder has it off, most voiced ones when on,
// for 20, 40 and 60 ms SILK packets.
func TestHasFEC(t *testing.T) {
	speech := phrase(t, "hello")
	for _, frame := range []int{960, 1920, 2880} {
		for _, loss := range []int{0, 20} {
			ps := encodeMono(t, speech, frame, gopus.Voip, 24000, loss)
			n := 0
			for _, p := range ps {
				if hasFEC(p) {
					n++
				}
			}
			switch {
			case loss == 0 && n != 0:
				t.Errorf("%d-sample packets, FEC off: %d of %d flagged", frame, n, len(ps))
			case loss > 0 && n < len(ps)*2/3:
				t.Errorf("%d-sample packets, FEC on: %d of %d flagged", frame, n, len(ps))
			}
		}
	}
	if hasFEC([]byte{0xf8, 0xff, 0xfe}) || hasFEC(nil) || hasFEC([]byte{0x08}) {
		t.Error("hasFEC true for CELT, empty or TOC-only packets")
	}
}
