// Package imagefit checks an image someone posted and prepares it for a
// Gemini Live turn: the real type is sniffed from the bytes (JPEG, PNG, WebP,
// or a GIF's first frame), the byte cap is checked before anything is parsed
// and the pixel cap from the header before anything is decoded (so a
// decompression bomb is refused without allocating its pixels), the picture is
// turned upright (JPEG EXIF orientation), scaled to fit MaxSide, flattened onto
// white and re-encoded as JPEG; a PNG that already fits and is small is kept
// as it is, so screenshots of text stay lossless. Either way no metadata
// (EXIF with GPS, PNG text) is forwarded.
//
// Why 1024 pixels: Gemini bills an image by tiles of 768×768 (2.x) or by a
// fixed per-image budget set by media resolution (3.x, about 1 100 tokens
// whatever the size), and scales larger inputs down itself, so pixels beyond
// about 1024 on the long side only cost upload time and base64 bytes in the
// WebSocket frame without the model seeing more. 1024 keeps small text in a
// screenshot legible where 768 starts to blur it.
//
// Every rejection is an *Error whose UserMessage names the accepted formats
// and limits in plain words, for the person who posted the file.
package imagefit
