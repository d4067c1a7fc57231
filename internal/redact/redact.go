// Package redact takes e-mail addresses out of the free-text fields of an
// event (its URL, referrer, title, campaign tags, properties) before they
// are stored, so that an address is kept only in the fields that name a
// person (user_id and the newsletter's recipients), where an erasure finds
// it. A page view of /welcome?email=ann%40mail.example from a browser
// never linked to Ann would otherwise keep her address in events.url,
// which no erasure of Ann can find.
//
// An address is recognised however a URL, a JSON body or an HTML page
// spelled its characters: @, %40, %2540 and %252540 (escaped again), %EF%BC%A0, %u0040,
// any HTML numeric reference (&#64;, &#0064;, &#x0040, with or without the
// semicolon; &amp;#64;), &commat;, \u0040 and \x40 behind any number of
// backslashes, the full-width ＠ and the small ﹫; zero-width characters
// and soft hyphens inside it are skipped. The local part is a
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
		case ignorable:
			// Invisible: it neither starts nor ends a run.
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
	ignorable       // zero-width characters and the soft hyphen: invisible, skipped inside an address
)

// unit reads the character at b[i], escaped or not: its class and how
// many bytes it takes. Escapes are read by kind, not by a list of
// spellings: a percent-encoded UTF-8 character (%EF%BC%A0, and escaped
// twice, %25EF%25BC%25A0), %uXXXX, any HTML numeric character reference
// (&#64;, &#0064;, &#x0040;, with or without its semicolon, and escaped
// again as &amp;#64;), a few named ones, JSON's and JavaScript's \uXXXX
// and \xXX however many backslashes escape them (\\u0040, %5Cu0040).
// The character an escape stands for is classified as if it were there.
func unit(b []byte, i int) (class, int) {
	c := b[i]
	switch {
	case c == '%':
		return percent(b, i)
	case c == '&':
		return reference(b, i)
	case c == '\\':
		j := i
		for j < len(b) && b[j] == '\\' {
			j++
		}
		if r, n := backslash(b, j); n > 0 {
			return classRune(r), j - i + n
		}
		return other, 1
	case c < utf8.RuneSelf:
		return ascii(c), 1
	}
	r, w := utf8.DecodeRune(b[i:])
	if r == utf8.RuneError && w <= 1 {
		return other, 1
	}
	return classRune(r), w
}

// classRune is the class of the character r.
func classRune(r rune) class {
	switch {
	case r < utf8.RuneSelf:
		return ascii(byte(r))
	case r == '＠' || r == '﹫':
		return at
	case r == '．' || r == '。' || r == '｡':
		return dot
	case r == '\u00ad' || r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\u2060' || r == '\ufeff':
		return ignorable
	case unicode.IsLetter(r) || unicode.IsMark(r):
		return letter
	case unicode.IsDigit(r):
		return digit
	}
	return other
}

// percent reads a percent escape at b[i]: %XX, a UTF-8 character as
// several, each possibly escaped twice (%25XX), %uXXXX, %5C before a
// backslash escape.
func percent(b []byte, i int) (class, int) {
	if i+1 < len(b) && (b[i+1] == 'u' || b[i+1] == 'U') {
		if r, ok := hexN(b, i+2, 4); ok {
			return classRune(r), 6
		}
	}
	v, n := pctByte(b, i)
	switch {
	case n == 0:
		return other, 1
	case v == '\\':
		if r, m := backslash(b, i+n); m > 0 {
			return classRune(r), n + m
		}
		return other, n
	case v < utf8.RuneSelf:
		return ascii(v), n
	}
	// A UTF-8 character, escaped byte by byte.
	var buf [utf8.UTFMax]byte
	buf[0] = v
	size := 1
	for j := i + n; size < len(buf) && !utf8.FullRune(buf[:size]); size++ {
		u, m := pctByte(b, j)
		if m == 0 {
			break
		}
		buf[size] = u
		j += m
	}
	if r, w := utf8.DecodeRune(buf[:size]); r != utf8.RuneError && w == size {
		return classRune(r), size * n
	}
	return letter, n // a byte of an escaped character: part of a word
}

// pctByte reads the byte %XX, %25XX or %2525XX... at b[i] stands for, and its length
// (0 when there is none).
func pctByte(b []byte, i int) (byte, int) {
	v, ok := hexAt(b, i+1)
	if !ok {
		return 0, 0
	}
	n := 3
	for v == '%' { // escaped again: %2540, %252540
		v2, ok := hexAt(b, i+n)
		if !ok {
			break
		}
		v, n = v2, n+2
	}
	return v, n
}

// reference reads an HTML character reference at b[i]: numeric (decimal
// or hexadecimal, any number of leading zeros, the semicolon optional as
// browsers read it) or one of the named ones that matter in an address,
// also with its & escaped again (&amp;#64;).
func reference(b []byte, i int) (class, int) {
	j := i + 1
	if hasPrefixFold(b[j:], "amp;") {
		j += 4
	}
	if j < len(b) && b[j] == '#' {
		j++
		base := 10
		if j < len(b) && (b[j] == 'x' || b[j] == 'X') {
			base, j = 16, j+1
		}
		var r rune
		k := j
		for ; k < len(b) && k-j < 10; k++ {
			d, ok := unhex(b[k])
			if !ok || base == 10 && d > 9 {
				break
			}
			r = r*rune(base) + rune(d)
		}
		if k == j || r > unicode.MaxRune {
			return other, 1
		}
		if k < len(b) && b[k] == ';' {
			return classRune(r), k + 1 - i
		}
		// Without its semicolon a reference runs as far as its digits go,
		// and &#x40example reads as U+40E: an at sign may still be meant,
		// its digits glued to a hexadecimal letter that follows.
		if classRune(r) != at {
			var p rune
			for m := j; m < k-1; m++ {
				d, _ := unhex(b[m])
				if p = p*rune(base) + rune(d); p == '@' {
					return at, m + 1 - i
				}
			}
		}
		return classRune(r), k - i
	}
	for _, e := range [...]struct {
		name string
		c    class
	}{{"commat;", at}, {"period;", dot}, {"hyphen;", hyphen}, {"dash;", hyphen}, {"lowbar;", localOnly},
		{"plus;", localOnly}, {"shy;", ignorable}, {"zwj;", ignorable}, {"zwnj;", ignorable}, {"NoBreak;", ignorable}} {
		if hasPrefixFold(b[j:], e.name) {
			return e.c, j - i + len(e.name)
		}
	}
	return other, 1
}

// backslash reads a \uXXXX or \xXX escape whose backslashes end before
// b[j]: the character and the length from b[j] (0 when there is none).
func backslash(b []byte, j int) (rune, int) {
	if j >= len(b) {
		return 0, 0
	}
	switch b[j] {
	case 'u', 'U':
		if r, ok := hexN(b, j+1, 4); ok {
			return r, 5
		}
	case 'x', 'X':
		if r, ok := hexN(b, j+1, 2); ok {
			return r, 3
		}
	}
	return 0, 0
}

// hexN reads n hexadecimal digits at b[i].
func hexN(b []byte, i, n int) (rune, bool) {
	if i+n > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+n] {
		d, ok := unhex(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
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
		if c == ignorable {
			j += w
			continue
		}
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
