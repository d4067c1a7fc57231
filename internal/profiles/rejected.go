package profiles

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"footfall/internal/chsql"
	"footfall/internal/event"
)

// The kept Kafka messages (events_rejected) have no column per
// identifier: a message is what the processor could not store, an event
// of a newer wire version, a JSON text from a misconfigured producer, a
// pack's unreadable tail. An identifier of the person may be spelt in it
// otherwise than the events table spells it: an address's domain in
// punycode (xn--caf-dma.example), escaped (\u0040 or \/ in JSON, %40 in
// a URL, &#64; in HTML), in other case (É for é), in another Unicode
// form (NFD, full-width letters). So the erasure and the export read the
// messages themselves and search them in Go, both the messages and the
// identifiers brought to one form (searchForm): whatever wrote the rows
// (the processor, an operator's INSERT, an older version), and without
// the identifiers in any statement's text. The rows found are named to
// the deletion by their Kafka coordinates, which name no one.
//
// An identifier is found in a message:
//   - of minNeedle bytes or more: anywhere in it (a binary message may
//     glue a field's length byte to it);
//   - shorter: only as a whole token, bounded by characters that are not
//     letters or digits or by the message's structure, so that a shop's
//     account id "42" is found in {"user_id":"42"} but not in "1420".
//
// Searched for are the identifiers that name a person alone: user ids
// (e-mail addresses, shop account ids), visitor ids and recipient tokens;
// session and order ids come in messages beside a visitor id.

const minNeedle = 6

// kindRejected marks, in an erasure's table of identifiers, a kept
// message found to be the person's, by its coordinates (rejectedKey).
const kindRejected = "r"

// rejectedKey is the SQL of a kept message's coordinates, as
// rejectedMessages writes them: its topic, partition, offset and length
// (a topic made again starts its offsets again).
const rejectedKey = `concat(topic, '/', toString(kafka_partition), '/', toString(kafka_offset), '/', toString(length(payload)))`

var qRejected = chsql.New("profiles.rejected_messages", `SELECT `+rejectedKey+`, payload FROM events_rejected WHERE payload != ''`)

// needles are the forms of the identifiers of ids that kept messages are
// searched for.
func needles(ids *Identifiers) []string {
	var out []string
	for _, k := range []string{kindUser, kindVisitor, kindToken} {
		for _, v := range *ids.of(k) {
			n := searchForm(v)
			if strings.Trim(n, "\n") == "" {
				continue
			}
			if len(v) < minNeedle {
				n = "\n" + n + "\n"
			}
			out = append(out, n)
		}
	}
	return out
}

// rejectedMessages returns the coordinates (rejectedKey) of the kept
// messages that hold one of the identifiers of ids, and how many rows
// hold them.
func (s *Store) rejectedMessages(ctx context.Context, ids *Identifiers) ([]string, uint64, error) {
	ns := needles(ids)
	if len(ns) == 0 {
		return nil, 0, nil
	}
	var keys []string
	var n uint64
	seen := map[string]bool{}
	err := s.each(ctx, qRejected, nil, func(r scanner) error {
		var key, payload string
		if err := r.Scan(&key, &payload); err != nil {
			return err
		}
		text := messageForm([]byte(payload))
		for _, needle := range ns {
			if strings.Contains(text, needle) {
				n++
				if !seen[key] {
					seen[key] = true
					keys = append(keys, key)
				}
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("search the kept messages: %w", err)
	}
	return keys, n, nil
}

// maxShortField bounds the length-prefixed strings read in a binary
// message that does not decode: a short identifier (under minNeedle
// bytes) is at most this long in any form (capitals, escapes).
const maxShortField = 4 * minNeedle

// messageForm is a kept message brought to the form identifiers are
// searched in: its parts (a pack's entries, an event's fields and
// properties when it decodes, else its bytes as they are, and the short
// strings they seem to hold), each in
// searchForm, between line feeds.
func messageForm(payload []byte) string {
	b := make([]byte, 1, 2*len(payload)+16)
	b[0] = '\n'
	add := func(p []byte) {
		b = appendSearchForm(b, string(p))
		b = append(b, '\n')
	}
	raw := func(m []byte) {
		add(m)
		if utf8.Valid(m) && bytes.IndexFunc(m, func(r rune) bool { return r < '\t' }) < 0 {
			return // text
		}
		// A binary message that does not decode (a newer wire version)
		// glues a field's length byte before it and the next one's after
		// it: the short strings it may hold are read as length-prefixed
		// too, so that a short identifier is found as a whole token.
		for i, c := range m {
			n := int(c)
			if n == 0 || n >= maxShortField || i+1+n > len(m) || bytes.IndexFunc(m[i+1:i+1+n], unicode.IsControl) >= 0 {
				continue
			}
			add(m[i+1 : i+1+n])
		}
	}
	var e event.Event
	entry := func(m []byte) {
		if event.Decode(m, &e) != nil {
			raw(m)
			return
		}
		for _, f := range e.F {
			if len(f) > 0 {
				add(f)
			}
		}
		for _, p := range e.Props {
			add(p.Key)
			add(p.Value)
		}
	}
	if event.IsPack(payload) {
		rest, _ := event.Unpack(payload, entry)
		if len(rest) > 0 {
			raw(rest)
		}
	} else {
		entry(payload)
	}
	return string(b)
}

// searchForm is s with its escapes decoded (JSON's \uXXXX and \/, URLs'
// %XX, HTML's character references, nested up to three times), in
// Unicode compatibility form, case-folded, the labels of internationalised
// domain names in punycode decoded, and a line feed between every letter
// or digit and any other character (and for every control character or
// byte that is not UTF-8), so that a whole token is a run between line
// feeds.
func searchForm(s string) string { return string(appendSearchForm(nil, s)) }

// appendSearchForm appends searchForm(s) to dst.
func appendSearchForm(dst []byte, s string) []byte {
	if plainASCII(s) {
		return appendTokens(dst, s)
	}
	for range 3 {
		t := unescape(s)
		if t == s {
			break
		}
		s = t
	}
	s = foldCase(s)
	if strings.Contains(s, "xn--") {
		s = foldCase(punycode(s))
	}
	return appendTokens(dst, s)
}

// plainASCII says whether s is ASCII without anything searchForm decodes.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf, c == '\\', c == '%', c == '&':
			return false
		case c == 'x' || c == 'X':
			if len(s) >= i+4 && strings.EqualFold(s[i:i+4], "xn--") {
				return false
			}
		}
	}
	return true
}

// foldCase is s in NFKC, case-folded, ideographic full stops made dots:
// event.FoldText, the form the tombstones' user ids take too.
func foldCase(s string) string { return event.FoldText(s) }

// punycode decodes every label of s that starts with xn-- (a label is a
// run of ASCII letters, digits and hyphens), leaving one that is not
// valid punycode as it is.
func punycode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "xn--")
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		j += i
		if j > 0 && labelByte(s[j-1]) {
			b.WriteString(s[i : j+4])
			i = j + 4
			continue
		}
		end := j
		for end < len(s) && labelByte(s[end]) {
			end++
		}
		b.WriteString(s[i:j])
		if u, err := idna.Punycode.ToUnicode(s[j:end]); err == nil {
			b.WriteString(u)
		} else {
			b.WriteString(s[j:end])
		}
		i = end
	}
	return b.String()
}

func labelByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c >= 'A' && c <= 'Z'
}

// unescape decodes one level of JSON string escapes, percent-encoding
// and HTML character references in s. What is not a valid escape stays.
func unescape(s string) string {
	if !strings.ContainsAny(s, `\%&`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			if r, n := jsonEscape(s[i:]); n > 0 {
				b.WriteRune(r)
				i += n
				continue
			}
		case c == '%' && i+3 <= len(s):
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(c)
		i++
	}
	out := b.String()
	if strings.Contains(out, "&") {
		out = html.UnescapeString(out)
	}
	return out
}

// jsonEscape reads the JSON escape s starts with: the rune and its
// length, or 0 when s starts with none.
func jsonEscape(s string) (rune, int) {
	switch s[1] {
	case '"', '\\', '/':
		return rune(s[1]), 2
	case 'b', 'f', 'n', 'r', 't':
		return '\n', 2
	case 'u':
		r, ok := hex4(s[2:])
		if !ok {
			return 0, 0
		}
		if utf16IsHigh(r) && len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
			if lo, ok := hex4(s[8:]); ok && lo >= 0xdc00 && lo <= 0xdfff {
				return (r-0xd800)<<10 + (lo - 0xdc00) + 0x10000, 12
			}
		}
		return r, 6
	}
	return 0, 0
}

func utf16IsHigh(r rune) bool { return r >= 0xd800 && r <= 0xdbff }

func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(s[:4], 16, 16)
	return rune(v), err == nil
}

// appendTokens appends s to dst, ASCII capitals in lower case, with a
// line feed between every letter or digit and any other character, and in
// place of every control character and byte that is not UTF-8.
func appendTokens(dst []byte, s string) []byte {
	prev := 0 // 0: a line feed or the start, 1: a letter or digit, 2: other
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		kind := 2
		switch {
		case r == utf8.RuneError || unicode.IsControl(r):
			if prev != 0 {
				dst = append(dst, '\n')
			}
			prev = 0
			continue
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			kind = 1
		case r >= 'A' && r <= 'Z':
			kind = 1
			r += 'a' - 'A'
		case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r)):
			kind = 1
		}
		if prev != 0 && prev != kind {
			dst = append(dst, '\n')
		}
		dst = utf8.AppendRune(dst, r)
		prev = kind
	}
	return dst
}
