package imagefit

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Defaults for the zero Options fields.
const (
	DefaultMaxBytes     = 10 << 20   // Discord's own upload cap for free accounts
	DefaultMaxPixels    = 40_000_000 // a 48 MP phone photo is refused, a 24 MP camera shot is not
	DefaultMaxSide      = 1024       // see the package comment
	DefaultQuality      = 85
	DefaultKeepPNGBytes = 512 << 10 // keep a small PNG (a screenshot) lossless
)

// Options bound what Prepare accepts and how it re-encodes. Zero fields take
// the Default constants.
type Options struct {
	MaxBytes  int64 // refuse more bytes than this, before parsing anything
	MaxPixels int64 // refuse a header declaring more pixels, before decoding
	MaxSide   int   // scale down so neither side exceeds this
	Quality   int   // JPEG quality of the re-encoded image, 1–100
	// KeepPNGBytes: a PNG that already fits MaxSide and is at most this
	// many bytes is sent as it is, less its metadata chunks.
	KeepPNGBytes int64
	// Scaler does the final resampling (after an exact box pre-reduction
	// by an integer factor). Nil means draw.CatmullRom; BENCHMARKS.md has
	// the comparison with draw.ApproxBiLinear.
	Scaler draw.Scaler
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.MaxSide <= 0 {
		o.MaxSide = DefaultMaxSide
	}
	if o.Quality <= 0 || o.Quality > 100 {
		o.Quality = DefaultQuality
	}
	if o.KeepPNGBytes <= 0 {
		o.KeepPNGBytes = DefaultKeepPNGBytes
	}
	if o.Scaler == nil {
		o.Scaler = draw.CatmullRom
	}
	return o
}

// Describe says what is accepted, e.g. "JPEG, PNG, WebP and GIF images up to
// 10 MB and 40 megapixels", for help texts and refusals.
func (o Options) Describe() string {
	o = o.withDefaults()
	return fmt.Sprintf("JPEG, PNG, WebP and GIF images up to %s and %s megapixels",
		humanBytes(o.MaxBytes), megapixels(o.MaxPixels))
}

// CheckSize refuses a byte count over MaxBytes, so a caller can turn down an
// attachment from its announced size before downloading it.
func (o Options) CheckSize(n int64) error {
	o = o.withDefaults()
	if n > o.MaxBytes {
		return &Error{Kind: TooLarge, Size: n, Limits: o}
	}
	return nil
}

// ReadLimited reads r up to MaxBytes; more than that is a TooLarge *Error
// without reading further (Size is then MaxBytes+1, a lower bound).
func ReadLimited(r io.Reader, opt Options) ([]byte, error) {
	o := opt.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, o.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("imagefit: read: %w", err)
	}
	if int64(len(data)) > o.MaxBytes {
		return nil, &Error{Kind: TooLarge, Size: int64(len(data)), Limits: o}
	}
	return data, nil
}

// Image is a prepared image, ready to be an inlineData part.
type Image struct {
	Data     []byte
	MIMEType string // "image/jpeg" or "image/png"
	Width    int    // of Data, upright
	Height   int
	// Source describes the input.
	Source                    Format
	SourceWidth, SourceHeight int // as stored (before EXIF rotation)
	// Kept reports that Data is the input PNG's own pixels, unchanged (a
	// small PNG that fits), with only its metadata chunks removed.
	Kept bool
}

// Prepare validates data and returns it ready for Gemini Live. Every error is
// an *Error (see UserMessage).
func Prepare(data []byte, opt Options) (*Image, error) {
	o := opt.withDefaults()
	fail := func(k Kind, f Format, err error) (*Image, error) {
		return nil, &Error{Kind: k, Format: string(f), Size: int64(len(data)), Limits: o, Err: err}
	}
	if len(data) == 0 {
		return fail(Empty, "", nil)
	}
	if int64(len(data)) > o.MaxBytes {
		return fail(TooLarge, Sniff(data), nil)
	}
	f := Sniff(data)
	var (
		decodeConfig func(io.Reader) (image.Config, error)
		decode       func(io.Reader) (image.Image, error)
	)
	switch f {
	case JPEG:
		decodeConfig, decode = jpeg.DecodeConfig, jpeg.Decode
	case PNG:
		decodeConfig, decode = png.DecodeConfig, png.Decode
	case GIF:
		decodeConfig, decode = gif.DecodeConfig, gif.Decode // Decode returns the first frame
	case WebP:
		decodeConfig, decode = webp.DecodeConfig, webp.Decode
	default:
		return fail(Unsupported, f, nil)
	}
	cfg, err := decodeConfig(bytes.NewReader(data))
	if err != nil {
		return fail(Corrupt, f, fmt.Errorf("read %s header: %w", f, err))
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return fail(Corrupt, f, fmt.Errorf("%s header declares %d×%d", f, cfg.Width, cfg.Height))
	}
	if int64(cfg.Width)*int64(cfg.Height) > o.MaxPixels {
		return nil, &Error{Kind: TooManyPixels, Format: string(f), Size: int64(len(data)),
			Width: cfg.Width, Height: cfg.Height, Limits: o}
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, &Error{Kind: Corrupt, Format: string(f), Size: int64(len(data)),
			Width: cfg.Width, Height: cfg.Height, Limits: o, Err: fmt.Errorf("decode %s: %w", f, err)}
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 || b.Dx() > cfg.Width || b.Dy() > cfg.Height {
		return fail(Corrupt, f, fmt.Errorf("decoded %s is %v, header said %d×%d", f, b, cfg.Width, cfg.Height))
	}
	orientation := 1
	if f == JPEG {
		orientation = jpegOrientation(data)
	}
	out := &Image{Source: f, SourceWidth: b.Dx(), SourceHeight: b.Dy()}

	fits := b.Dx() <= o.MaxSide && b.Dy() <= o.MaxSide
	if f == PNG && fits && int64(len(data)) <= o.KeepPNGBytes {
		if stripped, ok := stripPNG(data); ok {
			out.Data, out.MIMEType, out.Width, out.Height, out.Kept = stripped, "image/png", b.Dx(), b.Dy(), true
			return out, nil
		}
	}

	var enc image.Image
	if fits && orientation == 1 && isOpaque(img) {
		// Already small and opaque: re-encode as is (drops metadata such as
		// EXIF GPS, and normalises WebP/GIF/PNG to JPEG).
		enc = img
	} else {
		dw, dh := fitWithin(b.Dx(), b.Dy(), o.MaxSide)
		enc = orient(scale(img, dw, dh, o.Scaler), orientation)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, enc, &jpeg.Options{Quality: o.Quality}); err != nil {
		return fail(Internal, f, fmt.Errorf("encode jpeg: %w", err))
	}
	eb := enc.Bounds()
	out.Data, out.MIMEType, out.Width, out.Height = buf.Bytes(), "image/jpeg", eb.Dx(), eb.Dy()
	return out, nil
}

// fitWithin scales w×h down (never up) so both sides are ≤ side, keeping the
// aspect ratio and at least one pixel per side.
func fitWithin(w, h, side int) (int, int) {
	if w <= side && h <= side {
		return w, h
	}
	if w >= h {
		return side, max(1, int((int64(h)*int64(side)+int64(w)/2)/int64(w)))
	}
	return max(1, int((int64(w)*int64(side)+int64(h)/2)/int64(h))), side
}

func isOpaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// scale resamples src to dw×dh on a white background (JPEG has no alpha).
// Large reductions first average exact k×k blocks, which is both the right
// low-pass filter and what keeps the kernel scaler's float buffer (32 bytes
// per destination-width × source-height pixel) small.
func scale(src image.Image, dw, dh int, s draw.Scaler) *image.RGBA {
	b := src.Bounds()
	if k := min(b.Dx()/dw, b.Dy()/dh); k >= 2 {
		src = boxReduce(src, k)
		b = src.Bounds()
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	op := draw.Src
	if !isOpaque(src) {
		draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		op = draw.Over
	}
	if b.Dx() == dw && b.Dy() == dh {
		draw.Draw(dst, dst.Bounds(), src, b.Min, op)
	} else {
		s.Scale(dst, dst.Bounds(), src, b, op, nil)
	}
	return dst
}

// boxReduce averages k×k blocks (premultiplied) into a new RGBA of
// ceil(w/k)×ceil(h/k); partial blocks at the edges average what they have.
func boxReduce(src image.Image, k int) *image.RGBA {
	if m, ok := src.(*image.YCbCr); ok {
		return boxReduceYCbCr(m, k)
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := (w+k-1)/k, (h+k-1)/k
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	sums := make([]uint32, 4*dw)
	row := make([]uint8, 4*w)
	var pal [][4]uint8
	if p, ok := src.(*image.Paletted); ok {
		pal = premultipliedPalette(p.Palette)
	}
	for dy := 0; dy < dh; dy++ {
		clear(sums)
		y0, y1 := dy*k, min((dy+1)*k, h)
		for y := y0; y < y1; y++ {
			readRow(src, b.Min.Y+y, row, pal)
			for x := 0; x < w; x++ {
				i := 4 * (x / k)
				sums[i] += uint32(row[4*x])
				sums[i+1] += uint32(row[4*x+1])
				sums[i+2] += uint32(row[4*x+2])
				sums[i+3] += uint32(row[4*x+3])
			}
		}
		out := dst.Pix[dy*dst.Stride:]
		for dx := 0; dx < dw; dx++ {
			n := uint32((min((dx+1)*k, w) - dx*k) * (y1 - y0))
			for c := 0; c < 4; c++ {
				out[4*dx+c] = uint8((sums[4*dx+c] + n/2) / n)
			}
		}
	}
	return dst
}

// boxReduceYCbCr is boxReduce for JPEG's planes: YCbCr→RGB is affine, so
// averaging Y, Cb and Cr first and converting once per output pixel gives
// the same result (up to clamping) for k² fewer conversions.
func boxReduceYCbCr(m *image.YCbCr, k int) *image.RGBA {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := (w+k-1)/k, (h+k-1)/k
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	cxDiv, cyDiv := 1, 1
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		cxDiv = 2
	case image.YCbCrSubsampleRatio420:
		cxDiv, cyDiv = 2, 2
	case image.YCbCrSubsampleRatio440:
		cyDiv = 2
	case image.YCbCrSubsampleRatio411:
		cxDiv = 4
	case image.YCbCrSubsampleRatio410:
		cxDiv, cyDiv = 4, 2
	}
	sums := make([]uint32, 3*dw)
	for dy := 0; dy < dh; dy++ {
		clear(sums)
		y0, y1 := dy*k, min((dy+1)*k, h)
		for y := y0; y < y1; y++ {
			ay := b.Min.Y + y
			yrow := m.Y[m.YOffset(b.Min.X, ay):]
			cbase := (ay/cyDiv-m.Rect.Min.Y/cyDiv)*m.CStride - m.Rect.Min.X/cxDiv
			for x := 0; x < w; x++ {
				ci := cbase + (b.Min.X+x)/cxDiv
				i := 3 * (x / k)
				sums[i] += uint32(yrow[x])
				sums[i+1] += uint32(m.Cb[ci])
				sums[i+2] += uint32(m.Cr[ci])
			}
		}
		out := dst.Pix[dy*dst.Stride:]
		for dx := 0; dx < dw; dx++ {
			n := uint32((min((dx+1)*k, w) - dx*k) * (y1 - y0))
			r, g, bl := color.YCbCrToRGB(uint8((sums[3*dx]+n/2)/n), uint8((sums[3*dx+1]+n/2)/n), uint8((sums[3*dx+2]+n/2)/n))
			out[4*dx], out[4*dx+1], out[4*dx+2], out[4*dx+3] = r, g, bl, 0xFF
		}
	}
	return dst
}

// readRow fills row with the premultiplied RGBA bytes of source row y, with
// fast paths for what the decoders return.
func readRow(src image.Image, y int, row []uint8, pal [][4]uint8) {
	b := src.Bounds()
	switch m := src.(type) {
	case *image.Paletted: // GIF, palette PNG
		p := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := 0; x < b.Dx(); x++ {
			if int(p[x]) < len(pal) {
				copy(row[4*x:4*x+4], pal[p[x]][:])
			} else { // decoders never return one; opaque black if they did
				row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = 0, 0, 0, 0xFF
			}
		}
	case *image.RGBA:
		copy(row, m.Pix[m.PixOffset(b.Min.X, y):])
	case *image.NRGBA:
		p := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := 0; x < b.Dx(); x++ {
			a := uint32(p[4*x+3])
			row[4*x] = uint8(uint32(p[4*x]) * a / 0xFF)
			row[4*x+1] = uint8(uint32(p[4*x+1]) * a / 0xFF)
			row[4*x+2] = uint8(uint32(p[4*x+2]) * a / 0xFF)
			row[4*x+3] = uint8(a)
		}
	case *image.Gray:
		p := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := 0; x < b.Dx(); x++ {
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = p[x], p[x], p[x], 0xFF
		}
	default:
		for x := 0; x < b.Dx(); x++ {
			r, g, bl, a := src.At(b.Min.X+x, y).RGBA()
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = uint8(r>>8), uint8(g>>8), uint8(bl>>8), uint8(a>>8)
		}
	}
}

func premultipliedPalette(p color.Palette) [][4]uint8 {
	out := make([][4]uint8, len(p))
	for i, c := range p {
		r, g, b, a := c.RGBA()
		out[i] = [4]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
	}
	return out
}
