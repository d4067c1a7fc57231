package event

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// Text that reaches the events table is valid UTF-8 without NUL bytes, the
// same whichever door a hit came in by. The collector checks each text
// value with Clean (the usual case, nothing to do) and otherwise writes a
// cleaned copy with AppendClean: in free text every invalid byte and every
// NUL becomes U+FFFD, the replacement a browser shows; in a URL (a Link
// field) it becomes its %XX escape, what a browser sends, so the URL stays
// a URL and loses nothing.

// Clean reports whether b is valid UTF-8 without a NUL byte. It runs on
// every text value of every hit, so ASCII, nearly all of them, is checked
// eight bytes at a time, in one pass for both conditions.
func Clean(b []byte) bool {
	const high, ones = 0x8080808080808080, 0x0101010101010101
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		if x&high != 0 || (x-ones)&^x&high != 0 { // a byte >= 0x80, or a zero byte
			break
		}
		b = b[8:]
	}
	for i, c := range b {
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			b = b[i:]
			return bytes.IndexByte(b, 0) < 0 && utf8.Valid(b)
		}
	}
	return true
}

// AppendClean appends b to dst with every invalid UTF-8 byte and every NUL
// replaced: by U+FFFD, or by its %XX escape when link is set.
func AppendClean(dst, b []byte, link bool) []byte {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n == 1, r == 0:
			if link {
				dst = append(dst, '%', hexDigits[b[0]>>4], hexDigits[b[0]&15])
			} else {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			}
		default:
			dst = append(dst, b[:n]...)
		}
		b = b[n:]
	}
	return dst
}

const hexDigits = "0123456789ABCDEF"

// AppendShortURL appends u to dst, shortened to at most max bytes when it
// is longer, keeping what the reports read from it. Cutting the end off
// would lose campaign tags and click ids that come late in a long landing
// URL, so instead it drops, in this order: the fragment; query parameters
// that no report reads, longest first; the end of the path. Campaign
// parameters (CampaignParam) are kept, their values cut to the bound the
// processor cuts them to (CutEncodedValue), and so are short parameters of any
// name, which keeps the click ids of platforms added after this list. The
// parameters left keep their order.
func AppendShortURL(dst, u []byte, max int) []byte {
	if len(u) <= max {
		return append(dst, u...)
	}
	if i := bytes.IndexByte(u, '#'); i >= 0 {
		u = u[:i]
		if len(u) <= max {
			return append(dst, u...)
		}
	}
	head, query, _ := bytes.Cut(u, []byte("?"))
	// What the campaign parameters need, separators included.
	kept := 0
	for q := query; len(q) > 0; {
		var p []byte
		p, q = nextPair(q)
		if p, ok := campaignPair(p); len(p) > 0 && ok {
			kept += len(p) + 1
		}
	}
	// The longest other parameter length that still fits beside them and
	// the head, found by halving: all parameters up to it are kept.
	room := max - kept - len(head)
	limit := -1
	if room > 0 {
		lo, hi := 0, len(query)
		for lo <= hi {
			mid := (lo + hi) / 2
			if otherBytes(query, mid) <= room {
				limit, lo = mid, mid+1
			} else {
				hi = mid - 1
			}
		}
	}
	need := kept
	if limit >= 0 {
		need += otherBytes(query, limit)
	}
	// A head too long for what is kept loses its end, never in the middle
	// of an escape or a character; it keeps at least half the room, so that
	// campaign parameters too long to fit beside it (a tag of kilobytes)
	// never take the page's host and path: those are then left out below.
	headRoom := max - need
	if headRoom < max/2 {
		headRoom = max / 2
	}
	if len(head) > headRoom {
		head = cutHead(head, headRoom)
	}
	start := len(dst)
	dst = append(dst, head...)
	sep := byte('?')
	for q := query; len(q) > 0; {
		var p []byte
		p, q = nextPair(q)
		p, campaign := campaignPair(p)
		if len(p) == 0 || !campaign && len(p) > limit {
			continue
		}
		if len(dst)-start+1+len(p) > max {
			continue // campaign parameters alone over the limit: those that fit
		}
		dst = append(dst, sep)
		dst = append(dst, p...)
		sep = '&'
	}
	return dst
}

func nextPair(q []byte) (p, rest []byte) {
	if i := bytes.IndexByte(q, '&'); i >= 0 {
		return q[:i], q[i+1:]
	}
	return q, nil
}

// otherBytes is what the non-campaign parameters up to limit bytes long
// take, separators included.
func otherBytes(query []byte, limit int) int {
	n := 0
	for q := query; len(q) > 0; {
		var p []byte
		p, q = nextPair(q)
		if _, campaign := campaignPair(p); len(p) > 0 && len(p) <= limit && !campaign {
			n += len(p) + 1
		}
	}
	return n
}

func cutHead(head []byte, n int) []byte {
	if n <= 0 {
		return nil
	}
	head = truncate(head, n) // on a character boundary
	// and not inside a %XX escape
	if i := bytes.LastIndexByte(head, '%'); i >= 0 && i >= len(head)-2 {
		head = head[:i]
	}
	return head
}

// campaignPair reports whether a query parameter is a campaign parameter
// (LandingParam), and returns it with its value cut to the parameter's
// bound (CutEncodedValue): a prefix of p.
func campaignPair(p []byte) ([]byte, bool) {
	k, v, _ := bytes.Cut(p, []byte("="))
	lp := LandingParam(k)
	if lp == nil {
		return p, false
	}
	if cut := CutEncodedValue(v, lp); len(cut) < len(v) {
		p = p[:len(p)-len(v)+len(cut)]
	}
	return p, true
}
