package imagefit

import (
	"errors"
	"fmt"
)

// Kind classifies why an image was refused.
type Kind int

const (
	// Empty: no bytes at all.
	Empty Kind = iota + 1
	// TooLarge: more bytes than Options.MaxBytes.
	TooLarge
	// TooManyPixels: the header declares more than Options.MaxPixels.
	TooManyPixels
	// Unsupported: the bytes are not JPEG, PNG, WebP or GIF.
	Unsupported
	// Corrupt: the header or the pixel data cannot be decoded.
	Corrupt
	// Internal: re-encoding failed (not the poster's fault).
	Internal
)

func (k Kind) String() string {
	switch k {
	case Empty:
		return "empty"
	case TooLarge:
		return "too large"
	case TooManyPixels:
		return "too many pixels"
	case Unsupported:
		return "unsupported format"
	case Corrupt:
		return "corrupt"
	case Internal:
		return "internal"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is every error Prepare and CheckSize return.
type Error struct {
	Kind Kind
	// Format is what the bytes were sniffed as ("JPEG", "HEIC", …), "" if unknown.
	Format string
	// Size is the byte count seen (for TooLarge it may be a lower bound).
	Size int64
	// Width and Height are the declared dimensions (TooManyPixels, Corrupt after the header).
	Width, Height int
	// Limits are the options in force, for the message.
	Limits Options
	// Err is the underlying decoder error, if any.
	Err error
}

func (e *Error) Error() string {
	msg := "imagefit: " + e.Kind.String()
	if e.Format != "" {
		msg += " (" + e.Format + ")"
	}
	switch e.Kind {
	case TooLarge:
		msg += fmt.Sprintf(": %d bytes > %d", e.Size, e.Limits.MaxBytes)
	case TooManyPixels:
		msg += fmt.Sprintf(": %d×%d > %d pixels", e.Width, e.Height, e.Limits.MaxPixels)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// UserMessage is a plain sentence for the person who posted the image: what is
// accepted and what this file is. It never includes decoder internals.
func (e *Error) UserMessage() string {
	accepts := "I can read " + e.Limits.Describe()
	var this string
	switch e.Kind {
	case Empty:
		this = "this file is empty"
	case TooLarge:
		this = "this file is " + humanBytes(e.Size)
		if e.Size > e.Limits.MaxBytes && e.Size == e.Limits.MaxBytes+1 {
			this = "this file is larger than " + humanBytes(e.Limits.MaxBytes)
		}
	case TooManyPixels:
		this = fmt.Sprintf("this one is %d×%d (%s megapixels)", e.Width, e.Height, megapixels(int64(e.Width)*int64(e.Height)))
	case Unsupported:
		if e.Format != "" {
			this = "this file is " + e.Format
		} else {
			this = "this file is not an image I recognise"
		}
	case Corrupt:
		if e.Format != "" {
			this = "this " + e.Format + " file is damaged or cut short"
		} else {
			this = "this file is damaged"
		}
	default:
		return "I could not prepare this image (an error on my side); please try again."
	}
	return accepts + "; " + this + "."
}

// KindOf returns the Kind of an *Error in err's chain, or 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func humanBytes(n int64) string {
	const mb = 1 << 20
	const kb = 1 << 10
	switch {
	case n >= mb:
		if n%mb == 0 {
			return fmt.Sprintf("%d MB", n/mb)
		}
		return fmt.Sprintf("%.1f MB", float64(n)/mb)
	case n >= kb:
		return fmt.Sprintf("%d KB", n/kb)
	}
	return fmt.Sprintf("%d bytes", n)
}

func megapixels(px int64) string {
	if px%1_000_000 == 0 {
		return fmt.Sprintf("%d", px/1_000_000)
	}
	if px < 100_000 {
		return fmt.Sprintf("%.2f", float64(px)/1e6)
	}
	return fmt.Sprintf("%.1f", float64(px)/1e6)
}
