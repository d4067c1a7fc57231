package enrich

import (
	"strings"
	"unicode/utf8"
)

// readablePath returns the one form a URL path is stored in, whatever form
// the client sent: location.href gives /caf%C3%A9, a hand-written link or a
// server gives /café, and both must be one page that a filter "/café" finds.
// Percent escapes are decoded where they spell printable UTF-8; escapes that
// would change the path's meaning (/ ? # %), control characters and bytes
// that are not UTF-8 stay encoded, in upper-case hex, so "%2f" and "%2F" are
// one path too. A path without escapes is returned as it is, without
// allocating.
func readablePath(p string) string {
	i := strings.IndexByte(p, '%')
	if i < 0 {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	b.WriteString(p[:i])
	var buf [utf8.UTFMax]byte
	for i < len(p) {
		c := p[i]
		if c != '%' {
			b.WriteByte(c)
			i++
			continue
		}
		// Gather a run of escapes: a character may take up to four.
		n := 0
		j := i
		for j+2 < len(p) && p[j] == '%' && n < len(buf) {
			v, ok := unhex2(p[j+1], p[j+2])
			if !ok {
				break
			}
			buf[n] = v
			n++
			j += 3
			if utf8.FullRune(buf[:n]) {
				break
			}
		}
		if n == 0 { // a lone % or bad hex: kept as sent
			b.WriteByte('%')
			i++
			continue
		}
		r, size := utf8.DecodeRune(buf[:n])
		if size == n && readable(r) {
			b.Write(buf[:n])
		} else {
			// Not a readable character: keep the first byte encoded and go
			// on from the next escape.
			writeEscape(&b, buf[0])
			j = i + 3
		}
		i = j
	}
	return b.String()
}

// readable reports whether r may appear decoded in a path without changing
// what the path means.
func readable(r rune) bool {
	switch {
	case r == utf8.RuneError, r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return false
	case r == '/', r == '?', r == '#', r == '%':
		return false
	}
	return true
}

func writeEscape(b *strings.Builder, c byte) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&15])
}

func unhex2(a, b byte) (byte, bool) {
	x, ok1 := unhex(a)
	y, ok2 := unhex(b)
	return x<<4 | y, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
