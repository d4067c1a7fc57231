package beacon

import (
	"footfall/internal/event"
)

// Every endpoint sets an event's fields through set, addProp and keyOf, so
// a value means the same whichever door it came in by: the pixel takes
// every key the JSON endpoints take, and text is cleaned the same way.

// keyOf finds what a query parameter or JSON key names: a field, or the
// revenue (amount says so). Fields only the collector sets (the client's
// address and user agent) count only for a trusted caller.
func keyOf(k []byte, trusted bool) (f event.Field, amount, ok bool) {
	if string(k) == "revenue" {
		return 0, true, true
	}
	f, ok = event.FieldByKey(k)
	if !ok || !event.Specs[f].Client && !trusted {
		return 0, false, false
	}
	return f, false, true
}

// setKey sets what keyOf found to v.
func (s *scratch) setKey(e *event.Event, f event.Field, amount bool, v []byte) error {
	if amount {
		var err error
		e.Revenue, err = event.ParseAmount(v)
		return err
	}
	return s.set(e, f, v)
}

// set stores v in field f of e. Free text is cleaned (see event.Clean; a
// user or order id with such bytes is refused by event.Set instead) and
// a URL longer than its field is shortened keeping its campaign parameters
// (event.AppendShortURL), both into the arena, before event.Set checks it.
func (s *scratch) set(e *event.Event, f event.Field, v []byte) error {
	switch spec := &event.Specs[f]; spec.Kind {
	case event.Text:
		v = s.clean(v, false)
	case event.Link:
		v = s.clean(v, true)
		if len(v) > spec.MaxLen {
			start := len(s.arena)
			s.arena = event.AppendShortURL(s.arena, v, spec.MaxLen)
			v = s.arena[start:len(s.arena):len(s.arena)]
		}
	}
	return e.Set(f, v)
}

// addProp appends a custom property with its key and value cleaned.
func (s *scratch) addProp(e *event.Event, k, v []byte) error {
	return e.AddProp(s.clean(k, false), s.clean(v, false))
}

// clean returns b when it is valid UTF-8 without NUL, as nearly every value
// is, and otherwise a cleaned copy in the arena.
func (s *scratch) clean(b []byte, link bool) []byte {
	if event.Clean(b) {
		return b
	}
	start := len(s.arena)
	s.arena = event.AppendClean(s.arena, b, link)
	return s.arena[start:len(s.arena):len(s.arena)]
}

// userAgent is the request's User-Agent, cleaned and cut to its field.
func (s *scratch) userAgent(ua []byte) []byte {
	return truncateUA(s.clean(ua, false))
}
