// Package redact takes e-mail addresses out of the free-text fields of an
// event (its URL, referrer, title, campaign tags, properties) before they
// are stored, so that an address is kept only in the fields that name a
// person (user_id and the newsletter's recipients), where an erasure finds
// it. A page view of /welcome?email=ann%40mail.example from a browser
// never linked to Ann would otherwise keep her address in events.url,
// which no erasure of Ann can find.
//
// An address is recognised however a URL, a JSON body or an HTML page
// spelled its at sign: @, %40, %2540 (escaped twice), &#64;, &#x40;,
// &commat;, \u0040, the full-width ＠ and the small ﹫. The local part is a
// run of letters, digits and . _ + - (escaped or not, in any script); the
// domain is labels of letters, digits and -, at least two, the last with a
// letter and two characters or more, so that react@18.2.0 or @scope/pkg
// are kept. What is found, local part and domain, is replaced by
// Placeholder.
package redact

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// Placeholder stands where an address was.
const Placeholder = "[email]"

// Emails returns b with every e-mail address replaced by Placeholder, and
// how many it replaced. Without one, b itself is returned and nothing is
// allocated.
func Emails(b []byte) ([]byte, int) {
	if !maybe(b) {
		return b, 0
	}
	var out []byte
	last, n := 0, 0
	local, word := -1, false // where the current run of local-part characters starts, and whether it has a letter or digit
	for i := 0; i < len(b); {
		c, w := unit(b, i)
		switch c {
		case at:
			if local >= 0 && word {
				if end, ok := domain(b, i+w); ok {
					if out == nil {
						out = make([]byte, 0, len(b))
					}
					out = append(out, b[last:local]...)
					out = append(out, Placeholder...)
					last, i, n = end, end, n+1
					local, word = -1, false
					continue
				}
			}
			local, word = -1, false
		case letter, digit, dot, hyphen, localOnly:
			if local < 0 {
				local = i
			}
			word = word || c == letter || c == digit
		default:
			local, word = -1, false
		}
		i += w
	}
	if n == 0 {
		return b, 0
	}
	return append(out, b[last:]...), n
}

// URL is Emails for a URL: the host is kept as it is (an address in the
// credentials before it, or anywhere after it, is replaced), so that the
// stored URL still names its site.
func URL(b []byte) ([]byte, int) {
	if !maybe(b) {
		return b, 0
	}
	s := bytes.Index(b, []byte("://"))
	if s <= 0 || !scheme(b[:s]) {
		return Emails(b)
	}
	hostEnd := s + 3
	for hostEnd < len(b) && b[hostEnd] != '/' && b[hostEnd] != '?' && b[hostEnd] != '#' {
		hostEnd++
	}
	auth := b[s+3 : hostEnd]
	infoEnd := s + 3
	if a := bytes.LastIndexByte(auth, '@'); a >= 0 {
		infoEnd += a
	}
	info, n1 := Emails(b[s+3 : infoEnd])
	tail, n2 := Emails(b[hostEnd:])
	if n1+n2 == 0 {
		return b, 0
	}
	out := make([]byte, 0, len(b))
	out = append(out, b[:s+3]...)
	out = append(out, info...)
	out = append(out, b[infoEnd:hostEnd]...)
	return append(out, tail...), n1 + n2
}

// scheme says whether b is a URL scheme: a letter, then letters, digits,
// + - and . (RFC 3986).
func scheme(b []byte) bool {
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// maybe says whether b has an at sign in any of the spellings unit reads:
// most fields have none, and are returned at once.
func maybe(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '@', '%', '&', '\\', 0xEF:
			if c, _ := unit(b, i); c == at {
				return true
			}
		}
	}
	return false
}

type class uint8

const (
	other     class = iota
	at              // an at sign, however spelled
	letter          // a letter of any script (or a byte of an escaped UTF-8 character)
	digit           // 0-9, or a digit of another script
	dot             // . (also %2E, the full-width and ideographic full stops)
	hyphen          // - : in local parts and domains
	localOnly       // _ and +: in local parts only
)

// unit reads the character at b[i], escaped or not: its class and how
// many bytes it takes.
func unit(b []byte, i int) (class, int) {
	c := b[i]
	switch {
	case c == '%':
		v, ok := hexAt(b, i+1)
		if !ok {
			return other, 1
		}
		if v == '%' { // escaped twice: %2540
			if v2, ok := hexAt(b, i+3); ok {
				if v2 >= 0x80 {
					return letter, 5
				}
				return ascii(v2), 5
			}
		}
		if v >= 0x80 {
			return letter, 3
		}
		return ascii(v), 3
	case c == '&':
		for _, e := range [...]string{"&#64;", "&#x40;", "&#X40;", "&commat;"} {
			if hasPrefixFold(b[i:], e) {
				return at, len(e)
			}
		}
		return other, 1
	case c == '\\':
		if hasPrefixFold(b[i:], `\u0040`) {
			return at, 6
		}
		return other, 1
	case c < utf8.RuneSelf:
		return ascii(c), 1
	}
	r, w := utf8.DecodeRune(b[i:])
	switch {
	case r == utf8.RuneError && w <= 1:
		return other, 1
	case r == '＠' || r == '﹫':
		return at, w
	case r == '．' || r == '。' || r == '｡':
		return dot, w
	case unicode.IsLetter(r) || unicode.IsMark(r):
		return letter, w
	case unicode.IsDigit(r):
		return digit, w
	}
	return other, w
}

func ascii(c byte) class {
	switch {
	case c == '@':
		return at
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return letter
	case '0' <= c && c <= '9':
		return digit
	case c == '.':
		return dot
	case c == '-':
		return hyphen
	case c == '_' || c == '+':
		return localOnly
	}
	return other
}

// domain reads the domain of an address from b[i:]: labels of letters,
// digits and hyphens separated by dots, at least two, the last (the top
// level) with a letter and two characters or more. It returns where the
// domain ends (a trailing dot is left out).
func domain(b []byte, i int) (int, bool) {
	labels := 0              // labels completed by a dot
	n, hasLetter := 0, false // the current label
	pn, pLetter := 0, false  // the label before it
	end := i
	for j := i; j < len(b); {
		c, w := unit(b, j)
		if c == letter || c == digit || c == hyphen {
			n++
			hasLetter = hasLetter || c == letter
			j += w
			end = j
			continue
		}
		if c != dot || n == 0 {
			break
		}
		labels++
		pn, pLetter = n, hasLetter
		n, hasLetter = 0, false
		j += w
	}
	if n == 0 { // ended on a dot, or nothing after the at sign
		return end, labels >= 2 && pn >= 2 && pLetter
	}
	return end, labels >= 1 && n >= 2 && hasLetter
}

func hexAt(b []byte, i int) (byte, bool) {
	if i+2 > len(b) {
		return 0, false
	}
	h, ok1 := unhex(b[i])
	l, ok2 := unhex(b[i+1])
	return h<<4 | l, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func hasPrefixFold(b []byte, p string) bool {
	return len(b) >= len(p) && bytes.EqualFold(b[:len(p)], []byte(p))
}
