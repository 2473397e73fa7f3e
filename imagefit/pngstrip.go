package imagefit

import "encoding/binary"

// stripPNG returns a PNG with only the chunks that affect how it looks
// (IHDR, PLTE, tRNS, IDAT, IEND and the colour-space ones), dropping text,
// EXIF (eXIf can carry GPS), time and private chunks before the file leaves
// for Google. Chunks are copied whole, CRCs included. ok is false if the
// chunk structure is not walkable, so the caller re-encodes instead.
func stripPNG(data []byte) (out []byte, ok bool) {
	const sig = 8
	if len(data) < sig {
		return nil, false
	}
	out = make([]byte, 0, len(data))
	out = append(out, data[:sig]...)
	for p := sig; p < len(data); {
		if p+12 > len(data) {
			return nil, false
		}
		n := int64(binary.BigEndian.Uint32(data[p:]))
		end := int64(p) + 12 + n
		if end > int64(len(data)) {
			return nil, false
		}
		switch string(data[p+4 : p+8]) {
		case "IHDR", "PLTE", "tRNS", "IDAT", "gAMA", "cHRM", "sRGB", "iCCP", "sBIT":
			out = append(out, data[p:end]...)
		case "IEND":
			return append(out, data[p:end]...), true
		}
		p = int(end)
	}
	return nil, false
}
