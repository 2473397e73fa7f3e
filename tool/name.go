package tool

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// MaxNameLen is the longest function name accepted: the strictest limit the
// Gemini API documents (63; others say 64 or 128).
const MaxNameLen = 63

// CheckName reports whether name is a valid function name for Live: a letter
// or underscore first, then letters, digits, underscores and dashes, at most
// MaxNameLen. (Some Gemini docs also allow dots and colons; not all do.)
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("empty function name")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("function name %q is longer than %d", name, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c == '-' || c >= '0' && c <= '9')
		if !ok {
			return fmt.Errorf("function name %q: %q at %d is not allowed (letters, digits, _ and -; a letter or _ first)", name, c, i)
		}
	}
	return nil
}

// SanitizeName maps any string to a valid, stable function name: disallowed
// characters become '_', a leading digit or dash gets a '_' prefix, and a
// name too long is cut and suffixed with a hash of the whole, so distinct
// long names stay distinct.
func SanitizeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" || out[0] == '-' || out[0] >= '0' && out[0] <= '9' {
		out = "_" + out
	}
	if len(out) > MaxNameLen {
		h := fnv.New32a()
		h.Write([]byte(s))
		out = fmt.Sprintf("%s_%08x", out[:MaxNameLen-9], h.Sum32())
	}
	return out
}
