package beacon

import "footfall/internal/event"

// setQuery sets e's fields and props from a pixel's query string.
//
// It reads the query string itself instead of through ctx.QueryArgs():
// fasthttp's Args copies and decodes every pair into its own storage before
// the first is looked at, which showed in the collector's profiles at its
// maximum rate (docs/perf.md, "The collector"). Here one pass over each pair finds its '=' and whether it
// holds an escape; a key or value without one stays a subslice of the
// request, a value is decoded only when its key is wanted, and what must
// be decoded goes to the arena. Decoding matches fasthttp's (the fuzz test
// holds it to that), so a hit means the same either way.
func (s *scratch) setQuery(e *event.Event, q []byte) error {
	for len(q) > 0 {
		var k, v []byte
		var keyEsc, valEsc bool
		var hasEq bool
		k, v, keyEsc, valEsc, hasEq, q = nextQueryArg(q)
		if len(k) == 0 {
			if hasEq && len(v) > 0 {
				return errNoName // "=x": a value without a name
			}
			continue // "&&", a trailing "&"
		}
		if keyEsc {
			k = s.decode(k)
		}
		// p.<key> is a prop; "p." alone is a prop without a key, which
		// AddProp refuses.
		prop := len(k) >= 2 && k[0] == 'p' && k[1] == '.'
		var key hitKey
		if !prop {
			var err error
			if key, err = keyOf(k, false); err != nil {
				return err
			}
		}
		if valEsc {
			v = s.decode(v)
		}
		var err error
		if prop {
			err = s.addProp(e, k[2:], v)
		} else {
			err = s.setKey(e, key, v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// nextQueryArg splits the first pair off a query string as fasthttp does
// (pairs end at '&', the key at the first '='), in one pass that also says
// whether the key and the value hold an escape.
func nextQueryArg(q []byte) (k, v []byte, keyEsc, valEsc, hasEq bool, rest []byte) {
	eq, end := -1, len(q)
scan:
	for i, c := range q {
		if !querySpecial[c] {
			continue
		}
		switch c {
		case '&':
			end = i
			break scan
		case '=':
			if eq < 0 {
				eq = i
			}
		default: // '%' or '+'
			if eq < 0 {
				keyEsc = true
			} else {
				valEsc = true
			}
		}
	}
	k = q[:end]
	if eq >= 0 {
		k, v, hasEq = q[:eq], q[eq+1:end], true
	}
	if end < len(q) {
		rest = q[end+1:]
	}
	return k, v, keyEsc, valEsc, hasEq, rest
}

// querySpecial marks the bytes nextQueryArg's scan stops at.
var querySpecial = [256]bool{'&': true, '=': true, '%': true, '+': true}

// decode decodes '+' to a space and %XX to its byte, leaving a '%' that is
// not followed by two hex digits as it is, like fasthttp. The result is in
// the arena, which holds it without moving: decoding never lengthens, and a
// query string is far shorter than the arena, which is sized for a whole
// POST body.
func (s *scratch) decode(b []byte) []byte {
	// Copy b whole, which makes room, then write the decoded bytes over
	// the copy.
	start := len(s.arena)
	out := append(s.arena, b...)
	n := start
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch c {
		case '+':
			c = ' '
		case '%':
			if i+2 >= len(b) {
				// Too short for an escape: fasthttp keeps the rest as it is.
				n += copy(out[n:], b[i:])
				i = len(b)
				continue
			}
			if hi, lo := unhex(b[i+1]), unhex(b[i+2]); hi < 16 && lo < 16 {
				c = hi<<4 | lo
				i += 2
			}
		}
		out[n] = c
		n++
	}
	s.arena = out[:n]
	return out[start:n:n]
}

// unhex is the value of a hex digit, or 16 for any other byte.
func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 16
}
