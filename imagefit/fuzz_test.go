package imagefit

import (
	"encoding/binary"
	"errors"
	"image/color"
	"runtime"
	"testing"
)

// FuzzPrepare: any bytes either prepare into a decodable image within the
// limits or give an *Error, never a panic, and never allocate much beyond
// what the pixel cap allows.
func FuzzPrepare(f *testing.F) {
	jpg := encJPEG(f, photo(40, 30))
	f.Add(jpg)
	f.Add(withOrientation(jpg, 6, binary.LittleEndian))
	f.Add(withSOFSize(f, jpg, 60000, 60000))
	f.Add(encPNG(f, halves(40, 30, red, color.NRGBA{0, 0, 0, 0})))
	f.Add(pngHeaderBomb(1<<20, 1<<20))
	f.Add(encGIF(f, 40, 30, red, blue))
	f.Add(encWebP(40, 30, red, nil))
	f.Add(encWebP(40, 30, color.NRGBA{A: 255}, []uint8{3, 200}))
	f.Add(encWebP(16384, 16384, red, nil))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8X"))
	f.Add([]byte("\x00\x00\x00\x18ftypavif"))

	const maxPixels = 1 << 16 // 256×256: small enough that the bound is tight
	opt := Options{MaxBytes: 1 << 20, MaxPixels: maxPixels, MaxSide: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		img, err := Prepare(data, opt)
		runtime.ReadMemStats(&after)
		// Decoders hold at most a few copies of the pixels (progressive
		// JPEG coefficients, PNG rows, the RGBA for scaling) plus
		// buffers proportional to the input; 64 bytes per allowed pixel
		// is several times that.
		bound := uint64(64*maxPixels + 16*len(data) + 2<<20)
		if got := after.TotalAlloc - before.TotalAlloc; got > bound {
			t.Fatalf("allocated %d bytes for %d input bytes (bound %d)", got, len(data), bound)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind == 0 {
				t.Fatalf("error %v is not a classified *Error", err)
			}
			if e.UserMessage() == "" {
				t.Fatal("empty user message")
			}
			return
		}
		if img.Width < 1 || img.Height < 1 || img.Width > 64 || img.Height > 64 {
			t.Fatalf("output %d×%d outside 1..64", img.Width, img.Height)
		}
		if Sniff(img.Data) != JPEG && Sniff(img.Data) != PNG {
			t.Fatalf("output sniffs as %q", Sniff(img.Data))
		}
	})
}
