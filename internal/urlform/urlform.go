// Package urlform is the one form in which the hosts and paths of URLs are
// stored and filtered: the processor writes url_host, url_path and the
// referrer's host and path in it, and the reports bring a filter's value to
// it, so that a page or a host is one row whatever form a client, or an
// analyst typing a filter, wrote it in.
//
// The form is the readable one: /café, not /caf%C3%A9; café.example, not
// xn--caf-dma.example; and composed characters (NFC, as keyboards type
// them), so an é sent as e and a combining accent (NFD, as macOS file names
// and some CMSs write it) is the same é.
package urlform

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Path returns the readable form of a URL path. Percent escapes are decoded
// where they spell printable UTF-8; escapes that would change the path's
// meaning (/ ? # %), control characters and bytes that are not UTF-8 stay
// encoded, in upper-case hex, so "%2f" and "%2F" are one path too. The
// result is in Unicode normalisation form C. An ASCII path without escapes,
// nearly every one, is returned as it is, without allocating.
func Path(p string) string {
	i := strings.IndexByte(p, '%')
	if i < 0 {
		return nfc(p)
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
	return nfc(b.String())
}

// nfc is s in normalisation form C; ASCII and text already in that form
// (nearly all) come back as they are, without allocating.
func nfc(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			// From the start: a combining mark joins what precedes it.
			if norm.NFC.QuickSpanString(s) == len(s) {
				return s
			}
			return norm.NFC.String(s)
		}
	}
	return s
}

// Host returns the one form of a host name: lower case, without a trailing
// dot, an internationalised name in Unicode (xn--caf-dma.example and
// CAFÉ.example are café.example). A plain ASCII host comes back as it is
// when already lower case, without allocating. A name that is not a valid
// internationalised one (an IP address, a name with an underscore) is only
// lower-cased.
func Host(h string) string {
	h = strings.TrimSuffix(h, ".")
	plain := true
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= utf8.RuneSelf || c >= 'A' && c <= 'Z' {
			plain = false
			break
		}
	}
	if plain && !strings.Contains(h, "xn--") {
		return h
	}
	if strings.HasPrefix(h, "[") { // an IPv6 address
		return strings.ToLower(h)
	}
	u, err := display.ToUnicode(h)
	if err != nil {
		return nfc(strings.ToLower(h))
	}
	return u
}

// display maps a name as a browser's address bar does (UTS 46: lower case,
// NFC, punycode decoded), without refusing what DNS allows and browsers
// send, such as an underscore.
var display = idna.New(idna.MapForLookup(), idna.Transitional(false))

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
