package imagefit

import "bytes"

// Format is an image type recognised from its leading bytes.
type Format string

// Formats Prepare accepts.
const (
	JPEG Format = "JPEG"
	PNG  Format = "PNG"
	WebP Format = "WebP"
	GIF  Format = "GIF"
)

// Sniff names the format of data from its magic bytes, ignoring any filename
// or content type someone claimed. It also names common formats Prepare
// refuses (HEIC, AVIF, BMP, TIFF, SVG, …) so the refusal can say what the
// file is; it returns "" for anything else.
func Sniff(data []byte) Format {
	switch {
	case len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF:
		return JPEG
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return GIF
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return WebP
	case len(data) >= 12 && string(data[4:8]) == "ftyp":
		switch string(data[8:12]) {
		case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
			return "HEIC"
		case "avif", "avis":
			return "AVIF"
		case "qt  ":
			return "a QuickTime video"
		}
		return "an MP4 video"
	case bytes.HasPrefix(data, []byte("BM")) && len(data) >= 26:
		return "BMP"
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		return "TIFF"
	case bytes.HasPrefix(data, []byte("\x00\x00\x01\x00")):
		return "ICO"
	case bytes.HasPrefix(data, []byte("%PDF")):
		return "PDF"
	case bytes.HasPrefix(data, []byte{0xFF, 0x0A}), bytes.HasPrefix(data, []byte("\x00\x00\x00\x0cJXL ")):
		return "JPEG XL"
	case looksSVG(data):
		return "SVG"
	}
	return ""
}

func looksSVG(data []byte) bool {
	head := data[:min(len(data), 512)]
	head = bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n")
	if !bytes.HasPrefix(head, []byte("<")) {
		return false
	}
	return bytes.Contains(bytes.ToLower(head), []byte("<svg"))
}
