package imagefit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestPrepareEachFormat(t *testing.T) {
	// Downscaling is tested at MaxSide 128 (the same code as 1024, at a
	// fraction of the cost under -race) and once at the default on a
	// cheap-to-decode WebP.
	cases := []struct {
		name     string
		data     []byte
		opt      Options
		format   Format
		w, h     int // expected output
		left     color.NRGBA
		right    color.NRGBA
		wantMIME string
	}{
		{"jpeg", encJPEG(t, halves(64, 32, red, blue)), Options{}, JPEG, 64, 32, red, blue, "image/jpeg"},
		{"png small kept", encPNG(t, halves(64, 32, red, blue)), Options{}, PNG, 64, 32, red, blue, "image/png"},
		{"gif first frame", encGIF(t, 40, 30, red, blue), Options{}, GIF, 40, 30, red, red, "image/jpeg"},
		{"webp lossless", encWebP(64, 32, color.NRGBA{A: 255}, []uint8{0, 255}), Options{}, WebP, 64, 32,
			color.NRGBA{0, 0, 0, 255}, color.NRGBA{0, 255, 0, 255}, "image/jpeg"},
		{"jpeg downscaled", encJPEG(t, halves(600, 300, red, blue)), Options{MaxSide: 128}, JPEG, 128, 64, red, blue, "image/jpeg"},
		{"jpeg downscaled by less than 2", encJPEG(t, halves(200, 100, red, blue)), Options{MaxSide: 128}, JPEG, 128, 64, red, blue, "image/jpeg"},
		{"png downscaled", encPNG(t, halves(300, 600, red, green)), Options{MaxSide: 128}, PNG, 64, 128, red, green, "image/jpeg"},
		{"gif downscaled", encGIF(t, 400, 200, blue, red), Options{MaxSide: 128}, GIF, 128, 64, blue, blue, "image/jpeg"},
		{"webp downscaled to the default 1024", encWebP(1100, 300, color.NRGBA{A: 255}, []uint8{0, 255}), Options{}, WebP, 1024, 279,
			color.NRGBA{0, 0, 0, 255}, color.NRGBA{0, 255, 0, 255}, "image/jpeg"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Sniff(c.data); got != c.format {
				t.Fatalf("Sniff = %q, want %q", got, c.format)
			}
			img, err := Prepare(c.data, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if img.MIMEType != c.wantMIME || img.Width != c.w || img.Height != c.h || img.Source != c.format {
				t.Fatalf("got %s %d×%d from %s, want %s %d×%d", img.MIMEType, img.Width, img.Height, img.Source, c.wantMIME, c.w, c.h)
			}
			if img.Kept != (c.wantMIME == "image/png") {
				t.Fatalf("Kept = %v", img.Kept)
			}
			if img.Kept && !bytes.Equal(img.Data, c.data) {
				t.Fatal("kept PNG differs from input (it has no metadata to strip)")
			}
			m := decodeOut(t, img)
			// Sample well inside each half, away from the edge the filters blur.
			if l := m.At(c.w/8, c.h/2); !near(l, c.left, 12) {
				t.Errorf("left = %v, want %v", l, c.left)
			}
			if r := m.At(c.w-1-c.w/8, c.h/2); !near(r, c.right, 12) {
				t.Errorf("right = %v, want %v", r, c.right)
			}
		})
	}
}

func TestPrepareFlattensAlphaOntoWhite(t *testing.T) {
	clear := color.NRGBA{0, 0, 0, 0}
	halfRed := color.NRGBA{255, 0, 0, 128}
	for name, data := range map[string][]byte{
		"png":  encPNG(t, halves(1200, 40, clear, halfRed)), // too wide: not kept
		"webp": encWebP(50, 20, color.NRGBA{10, 20, 30, 0}, nil),
	} {
		t.Run(name, func(t *testing.T) {
			img, err := Prepare(data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if img.MIMEType != "image/jpeg" {
				t.Fatalf("MIME %s", img.MIMEType)
			}
			m := decodeOut(t, img)
			if c := m.At(img.Width/8, img.Height/2); !near(c, color.NRGBA{255, 255, 255, 255}, 6) {
				t.Errorf("transparent became %v, want white", c)
			}
			if name == "png" {
				if c := m.At(img.Width-1-img.Width/8, img.Height/2); !near(c, color.NRGBA{255, 127, 127, 255}, 8) {
					t.Errorf("half-transparent red became %v, want pink", c)
				}
			}
		})
	}
}

func TestPrepareAppliesEXIFOrientation(t *testing.T) {
	src := encJPEG(t, halves(40, 20, red, blue)) // red left, blue right
	cases := []struct {
		o          uint16
		w, h       int
		redX, redY int // a point that must be red
	}{
		{1, 40, 20, 5, 10},
		{3, 40, 20, 35, 10}, // 180°: red on the right
		{6, 20, 40, 10, 5},  // 90° clockwise: the left edge goes to the top
		{8, 20, 40, 10, 35}, // 90° counter-clockwise: the left edge goes to the bottom
		{2, 40, 20, 35, 10}, // mirrored
		{4, 40, 20, 5, 10},  // flipped vertically: left stays left
		{5, 20, 40, 10, 5},  // transposed
		{7, 20, 40, 10, 35}, // transversed
	}
	for _, c := range cases {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			img, err := Prepare(withOrientation(src, c.o, order), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if img.Width != c.w || img.Height != c.h {
				t.Fatalf("orientation %d: %d×%d, want %d×%d", c.o, img.Width, img.Height, c.w, c.h)
			}
			if p := decodeOut(t, img).At(c.redX, c.redY); !near(p, red, 40) {
				t.Errorf("orientation %d (%v): (%d,%d) = %v, want red", c.o, order, c.redX, c.redY, p)
			}
		}
	}
}

func TestPrepareRefuses(t *testing.T) {
	jpg := encJPEG(t, photo(64, 48))
	pngData := encPNG(t, photo(64, 48))
	gifData := encGIF(t, 64, 48, red)
	webpData := encWebP(64, 48, color.NRGBA{A: 255}, []uint8{0, 255})
	heic := append([]byte("\x00\x00\x00\x18ftypheic"), make([]byte, 100)...)
	cases := []struct {
		name string
		data []byte
		opt  Options
		kind Kind
		msg  string // in UserMessage
	}{
		{"empty", nil, Options{}, Empty, "this file is empty"},
		{"too many bytes, checked first", bytes.Repeat([]byte{0}, 2048), Options{MaxBytes: 1024}, TooLarge, "up to 1 KB"},
		{"heic", heic, Options{}, Unsupported, "this file is HEIC"},
		{"text", []byte("hello, this is not an image"), Options{}, Unsupported, "not an image I recognise"},
		{"svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`), Options{}, Unsupported, "this file is SVG"},
		{"bmp", append([]byte("BM"), make([]byte, 60)...), Options{}, Unsupported, "this file is BMP"},
		{"truncated jpeg", jpg[:len(jpg)/2], Options{}, Corrupt, "JPEG file is damaged"},
		{"truncated png", pngData[:len(pngData)/2], Options{}, Corrupt, "PNG file is damaged"},
		{"truncated gif", gifData[:len(gifData)-12], Options{}, Corrupt, "GIF file is damaged"},
		{"truncated webp", webpData[:20], Options{}, Corrupt, "WebP file is damaged"},
		{"png header only", pngData[:16], Options{}, Corrupt, "PNG"},
		{"jpeg over pixel cap", jpg, Options{MaxPixels: 64*48 - 1}, TooManyPixels, "64×48"},
		{"jpeg bomb header", withSOFSize(t, jpg, 65000, 65000), Options{}, TooManyPixels, "65000×65000 (4225 megapixels)"},
		{"png bomb header", pngHeaderBomb(100000, 100000), Options{}, TooManyPixels, "100000×100000"},
		{"webp bomb", encWebP(16384, 16384, red, nil), Options{}, TooManyPixels, "16384×16384 (268.4 megapixels)"},
		{"gif bomb header", []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00;"), Options{}, TooManyPixels, "65535×65535"},
		{"png zero size", pngHeaderBomb(0, 10), Options{}, Corrupt, "PNG"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			img, err := Prepare(c.data, c.opt)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("accepted: %s %d×%d", img.MIMEType, img.Width, img.Height)
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != c.kind || KindOf(err) != c.kind {
				t.Fatalf("err = %v (%T), want kind %v", err, err, c.kind)
			}
			um := e.UserMessage()
			if !strings.Contains(um, c.msg) || !strings.HasPrefix(um, "I can read JPEG, PNG, WebP and GIF images up to ") {
				t.Errorf("UserMessage = %q, want it to contain %q", um, c.msg)
			}
			// A refusal never costs the pixels it refused: headers alone.
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 && c.kind != Corrupt {
				t.Errorf("refusing allocated %d bytes", got)
			}
		})
	}
}

func TestUserMessageDefaults(t *testing.T) {
	err := Options{}.CheckSize(12 << 20)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("CheckSize(12 MB) = %v", err)
	}
	want := "I can read JPEG, PNG, WebP and GIF images up to 10 MB and 40 megapixels; this file is 12 MB."
	if got := e.UserMessage(); got != want {
		t.Fatalf("UserMessage =\n%q, want\n%q", got, want)
	}
	if (Options{}).CheckSize(10<<20) != nil {
		t.Fatal("exactly the cap was refused")
	}
	if !strings.Contains(err.Error(), "imagefit: too large") {
		t.Fatalf("Error() = %q", err)
	}
}

func TestReadLimited(t *testing.T) {
	opt := Options{MaxBytes: 100}
	data, err := ReadLimited(bytes.NewReader(make([]byte, 100)), opt)
	if err != nil || len(data) != 100 {
		t.Fatalf("100 bytes: %d, %v", len(data), err)
	}
	// A reader that never ends is cut at MaxBytes+1.
	_, err = ReadLimited(iotest.OneByteReader(zeros{}), opt)
	if KindOf(err) != TooLarge {
		t.Fatalf("endless reader: %v", err)
	}
	if !strings.Contains(err.(*Error).UserMessage(), "larger than 100 bytes") {
		t.Fatalf("message: %q", err.(*Error).UserMessage())
	}
	_, err = ReadLimited(iotest.ErrReader(errors.New("boom")), opt)
	if err == nil || !strings.Contains(err.Error(), "imagefit: read: boom") {
		t.Fatalf("read error: %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestPrepareStripsMetadataAndKeepsOnlyWhatFits(t *testing.T) {
	// A small opaque JPEG is still re-encoded: its EXIF (GPS, camera) is not forwarded.
	j := withOrientation(encJPEG(t, photo(32, 32)), 1, binary.BigEndian)
	img, err := Prepare(j, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(img.Data, []byte("Exif")) {
		t.Fatal("EXIF forwarded")
	}
	// A PNG over KeepPNGBytes is re-encoded even though it fits.
	p := encPNG(t, photo(300, 300))
	img, err = Prepare(p, Options{KeepPNGBytes: int64(len(p) - 1)})
	if err != nil {
		t.Fatal(err)
	}
	if img.Kept || img.MIMEType != "image/jpeg" || img.Width != 300 {
		t.Fatalf("got kept=%v %s %d", img.Kept, img.MIMEType, img.Width)
	}
}

func TestPrepareLargeWithinCapsIsBounded(t *testing.T) {
	// A 1000×600 WebP scaled to fit 64: the box pre-reduction keeps the
	// kernel scaler's float buffer (32 bytes × destination width × source
	// height: 1.2 MB here without it) small next to the 2.4 MB decoded image.
	data := encWebP(1000, 600, color.NRGBA{200, 100, 50, 255}, nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	img, err := Prepare(data, Options{MaxSide: 64})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if img.Width != 64 || img.Height != 38 {
		t.Fatalf("%d×%d", img.Width, img.Height)
	}
	decoded := uint64(1000 * 600 * 4)
	if got := after.TotalAlloc - before.TotalAlloc; got > decoded*5/4 {
		t.Errorf("allocated %d bytes, more than 1.25× the %d-byte decoded image", got, decoded)
	}
	if c := decodeOut(t, img).At(30, 20); !near(c, color.NRGBA{200, 100, 50, 255}, 6) {
		t.Errorf("colour %v", c)
	}
}

func TestFitWithin(t *testing.T) {
	for _, c := range []struct{ w, h, side, ww, wh int }{
		{100, 50, 1024, 100, 50},
		{4032, 3024, 1024, 1024, 768},
		{3024, 4032, 1024, 768, 1024},
		{100000, 1, 1024, 1024, 1},
		{1, 100000, 1024, 1, 1024},
		{2048, 2048, 1024, 1024, 1024},
	} {
		if w, h := fitWithin(c.w, c.h, c.side); w != c.ww || h != c.wh {
			t.Errorf("fitWithin(%d,%d,%d) = %d,%d want %d,%d", c.w, c.h, c.side, w, h, c.ww, c.wh)
		}
	}
}

// TestBoxReduceYCbCrMatchesRGB: averaging in YCbCr (the JPEG fast path)
// agrees with converting every pixel first, for every subsampling ratio and
// odd factors that split chroma blocks.
func TestBoxReduceYCbCrMatchesRGB(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410}
	for _, ratio := range ratios {
		// An odd origin checks the chroma offsets too.
		m := image.NewYCbCr(image.Rect(3, 5, 3+37, 5+29), ratio)
		s := uint32(7)
		for i := range m.Y {
			s = s*1664525 + 1013904223
			m.Y[i] = 48 + uint8(s>>24)*5/8 // 48..207: no colour clamps, where averaging orders differ
		}
		for i := range m.Cb {
			s = s*1664525 + 1013904223
			m.Cb[i] = 104 + uint8(s>>24)*3/16 // 128±24
			m.Cr[i] = 104 + uint8(s>>16)*3/16
		}
		for _, k := range []int{2, 3, 5} {
			got := boxReduceYCbCr(m, k)
			// Reference: convert every pixel, then average.
			b := m.Bounds()
			for dy := 0; dy < got.Bounds().Dy(); dy++ {
				for dx := 0; dx < got.Bounds().Dx(); dx++ {
					var sr, sg, sb, n int
					for y := dy * k; y < min((dy+1)*k, b.Dy()); y++ {
						for x := dx * k; x < min((dx+1)*k, b.Dx()); x++ {
							r, g, bl, _ := m.At(b.Min.X+x, b.Min.Y+y).RGBA()
							sr, sg, sb, n = sr+int(r>>8), sg+int(g>>8), sb+int(bl>>8), n+1
						}
					}
					want := color.NRGBA{uint8(sr / n), uint8(sg / n), uint8(sb / n), 255}
					if c := got.RGBAAt(dx, dy); !near(c, want, 2) {
						t.Fatalf("ratio %v k %d (%d,%d): %v, want %v", ratio, k, dx, dy, c, want)
					}
				}
			}
		}
	}
}

// TestKeptPNGLosesMetadata: a kept PNG keeps its pixels and colour chunks
// but not its text or EXIF chunks.
func TestKeptPNGLosesMetadata(t *testing.T) {
	orig := encPNG(t, halves(64, 32, red, blue))
	chunk := func(typ, data string) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ + data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE([]byte(typ+data)))
		return b.Bytes()
	}
	// After IHDR (8-byte signature + 25-byte chunk): gAMA, tEXt and eXIf.
	var withMeta []byte
	withMeta = append(withMeta, orig[:33]...)
	withMeta = append(withMeta, chunk("gAMA", "\x00\x00\xb1\x8f")...)
	withMeta = append(withMeta, chunk("tEXt", "Author\x00Ada at 51.5N 0.1W")...)
	withMeta = append(withMeta, chunk("eXIf", "MM\x00*\x00\x00\x00\x08GPS")...)
	withMeta = append(withMeta, orig[33:]...)
	img, err := Prepare(withMeta, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !img.Kept || img.MIMEType != "image/png" {
		t.Fatalf("kept=%v %s", img.Kept, img.MIMEType)
	}
	if bytes.Contains(img.Data, []byte("Ada")) || bytes.Contains(img.Data, []byte("eXIf")) || bytes.Contains(img.Data, []byte("tEXt")) {
		t.Fatal("metadata kept")
	}
	if !bytes.Contains(img.Data, []byte("gAMA")) || len(img.Data) != len(orig)+16 {
		t.Fatalf("colour chunk lost or extra bytes: %d vs %d", len(img.Data), len(orig))
	}
	if p := decodeOut(t, img).At(5, 5); !near(p, red, 0) {
		t.Fatalf("pixel %v", p)
	}
	// A PNG whose chunks cannot be walked is re-encoded, not kept.
	if _, ok := stripPNG(withMeta[:40]); ok {
		t.Fatal("truncated chunk list accepted")
	}
}
