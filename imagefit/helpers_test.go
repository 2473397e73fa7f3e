package imagefit

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// halves is w×h with the left half a and the right half b.
func halves(w, h int, a, b color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if x < w/2 {
				m.SetNRGBA(x, y, a)
			} else {
				m.SetNRGBA(x, y, b)
			}
		}
	}
	return m
}

// photo is a smooth gradient with deterministic noise: compresses like a photo.
func photo(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	s := uint32(1)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s = s*1664525 + 1013904223
			n := uint8(s >> 28)
			i := m.PixOffset(x, y)
			m.Pix[i] = uint8(x*255/w) + n
			m.Pix[i+1] = uint8(y*255/h) + n
			m.Pix[i+2] = uint8((x+y)*127/(w+h)) + n
			m.Pix[i+3] = 0xFF
		}
	}
	return m
}

var (
	red   = color.NRGBA{255, 0, 0, 255}
	blue  = color.NRGBA{0, 0, 255, 255}
	green = color.NRGBA{0, 255, 0, 255}
)

func encJPEG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encPNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// encGIF makes a GIF whose frames are solid colours, in order.
func encGIF(t testing.TB, w, h int, frames ...color.Color) []byte {
	t.Helper()
	pal := color.Palette{color.Black, red, blue, green}
	g := &gif.GIF{Config: image.Config{Width: w, Height: h, ColorModel: pal}}
	for _, c := range frames {
		f := image.NewPaletted(image.Rect(0, 0, w, h), pal)
		idx := uint8(pal.Index(c))
		for i := range f.Pix {
			f.Pix[i] = idx
		}
		g.Image = append(g.Image, f)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bitWriter packs bits LSB first, as VP8L reads them.
type bitWriter struct {
	buf  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) put(v uint64, n uint) {
	w.acc |= v << w.nacc
	w.nacc += n
	for w.nacc >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.nacc -= 8
	}
}

func (w *bitWriter) bytes() []byte {
	if w.nacc > 0 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc, w.nacc = 0, 0
	}
	return w.buf
}

// encWebP writes a lossless WebP (VP8L) by hand, since Go has no WebP
// encoder: every channel uses a one- or two-symbol "simple" prefix code, so
// the picture is a vertical-stripe pattern of two green levels (greens
// non-nil) or one solid colour, and a solid image of any size costs only a few
// bytes, which is exactly what a decompression bomb looks like.
func encWebP(w, h int, c color.NRGBA, greens []uint8) []byte {
	var bw bitWriter
	bw.put(0x2f, 8)
	bw.put(uint64(w-1), 14)
	bw.put(uint64(h-1), 14)
	alpha := uint64(0)
	if c.A != 0xFF {
		alpha = 1
	}
	bw.put(alpha, 1)
	bw.put(0, 3) // version
	bw.put(0, 1) // no transform
	bw.put(0, 1) // no colour cache
	bw.put(0, 1) // no meta prefix codes
	simple := func(syms ...uint8) {
		bw.put(1, 1) // simple code
		bw.put(uint64(len(syms)-1), 1)
		bw.put(1, 1) // first symbol has 8 bits
		bw.put(uint64(syms[0]), 8)
		if len(syms) == 2 {
			bw.put(uint64(syms[1]), 8)
		}
	}
	if greens != nil {
		simple(greens[0], greens[1]) // greens[0] < greens[1]: codes 0 and 1
	} else {
		simple(c.G)
	}
	simple(c.R)
	simple(c.B)
	simple(c.A)
	simple(0) // distance
	if greens != nil {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				bw.put(uint64(x*2/w), 1)
			}
		}
	}
	data := bw.bytes()
	var out bytes.Buffer
	out.WriteString("RIFF")
	size := 4 + 8 + len(data) + len(data)%2
	binary.Write(&out, binary.LittleEndian, uint32(size))
	out.WriteString("WEBPVP8L")
	binary.Write(&out, binary.LittleEndian, uint32(len(data)))
	out.Write(data)
	if len(data)%2 == 1 {
		out.WriteByte(0)
	}
	return out.Bytes()
}

// pngHeaderBomb is a PNG whose IHDR (valid CRC) declares w×h and whose
// single IDAT is garbage: only a decoder that trusts the header allocates.
func pngHeaderBomb(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0, 0, 0, 0})
	chunk("IEND", nil)
	return b.Bytes()
}

// withSOFSize returns a copy of a baseline JPEG with its frame header
// patched to declare w×h.
func withSOFSize(t testing.TB, j []byte, w, h uint16) []byte {
	t.Helper()
	out := bytes.Clone(j)
	i := bytes.Index(out, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0")
	}
	binary.BigEndian.PutUint16(out[i+5:], h)
	binary.BigEndian.PutUint16(out[i+7:], w)
	return out
}

// withOrientation inserts an EXIF APP1 segment carrying Orientation o right
// after the SOI of a JPEG.
func withOrientation(j []byte, o uint16, order binary.ByteOrder) []byte {
	var tiff bytes.Buffer
	if order == binary.LittleEndian {
		tiff.WriteString("II")
	} else {
		tiff.WriteString("MM")
	}
	binary.Write(&tiff, order, uint16(42))
	binary.Write(&tiff, order, uint32(8))
	binary.Write(&tiff, order, uint16(2)) // two entries
	// An unrelated tag first (ImageWidth, LONG), then Orientation.
	binary.Write(&tiff, order, uint16(0x0100))
	binary.Write(&tiff, order, uint16(4))
	binary.Write(&tiff, order, uint32(1))
	binary.Write(&tiff, order, uint32(123))
	binary.Write(&tiff, order, uint16(0x0112))
	binary.Write(&tiff, order, uint16(3))
	binary.Write(&tiff, order, uint32(1))
	binary.Write(&tiff, order, o)
	binary.Write(&tiff, order, uint16(0))
	binary.Write(&tiff, order, uint32(0)) // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte{}, j[:2]...)
	out = append(out, seg...)
	return append(out, j[2:]...)
}

// near reports whether c is within tol of want on every channel.
func near(c color.Color, want color.NRGBA, tol int) bool {
	r, g, b, _ := c.RGBA()
	d := func(x uint32, y uint8) bool { v := int(x>>8) - int(y); return v <= tol && v >= -tol }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

func decodeOut(t *testing.T, img *Image) image.Image {
	t.Helper()
	var m image.Image
	var err error
	switch img.MIMEType {
	case "image/jpeg":
		m, err = jpeg.Decode(bytes.NewReader(img.Data))
	case "image/png":
		m, err = png.Decode(bytes.NewReader(img.Data))
	default:
		t.Fatalf("MIME %q", img.MIMEType)
	}
	if err != nil {
		t.Fatalf("output does not decode: %v", err)
	}
	if b := m.Bounds(); b.Dx() != img.Width || b.Dy() != img.Height {
		t.Fatalf("output is %v, Image says %d×%d", b, img.Width, img.Height)
	}
	return m
}
