package beacon

import (
	"strconv"

	"footfall/internal/event"
)

// Every endpoint sets an event's fields through keyOf, setKey and addProp,
// so a key means the same whichever door it came in by: the pixel takes
// every key the JSON endpoints take, and text is cleaned the same way.

// keyKind is what a hit's key (a pixel's query parameter, a JSON event's
// key) names.
type keyKind uint8

const (
	// keyField is a field (its name in any case: UTM_SOURCE is utm_source).
	keyField keyKind = iota
	// keyAmount is the revenue.
	keyAmount
	// keyAlias is a landing URL's campaign parameter with a field of its
	// own under another name (aff is the affiliate, gclid a click_id,
	// mtm_source Matomo's utm_source): it fills that field unless the hit
	// sets the field itself.
	keyAlias
	// keyLanding is a campaign parameter with no field (ref, ff_rt,
	// mc_cid...): the snippet carries the landing's with the session, and
	// the processor reads them from the landing URL (url), so it is taken
	// and not stored.
	keyLanding
	// keyCacheBuster is a key that starts with "_" (_=1712345): the
	// caller's own, such as a cache buster, taken and not stored.
	keyCacheBuster
	// keyTime is when the event happened (RFC 3339), and keyEventID the
	// sender's id of the event (a UUID): history sent through the server
	// API (backfill.go). Only the server API takes them.
	keyTime
	keyEventID
)

// hitKey is what keyOf found.
type hitKey struct {
	kind keyKind
	f    event.Field
}

// keyOf finds what a query parameter or JSON key names. Fields only the
// collector sets (the client's address and user agent) count only for a
// trusted caller. A key that names nothing is refused: a value sent under
// a wrong name is never accepted and dropped.
func keyOf(k []byte, trusted bool) (hitKey, error) {
	if string(k) == "revenue" {
		return hitKey{kind: keyAmount}, nil
	}
	if string(k) == "time" || string(k) == "event_id" {
		if !trusted {
			return hitKey{}, historyFieldError{string(k)}
		}
		if string(k) == "time" {
			return hitKey{kind: keyTime}, nil
		}
		return hitKey{kind: keyEventID}, nil
	}
	if f, ok := event.FieldByKey(k); ok {
		if !event.Specs[f].Client && !trusted {
			return hitKey{}, collectorFieldError{event.Specs[f].Key}
		}
		return hitKey{kind: keyField, f: f}, nil
	}
	if p := event.LandingParam(k); p != nil {
		if p.Field < event.NumFields {
			return hitKey{kind: keyAlias, f: p.Field}, nil
		}
		return hitKey{kind: keyLanding}, nil
	}
	if len(k) > 0 && k[0] == '_' {
		return hitKey{kind: keyCacheBuster}, nil
	}
	return hitKey{}, unknownKeyError{string(truncateKey(k))}
}

// setKey sets what keyOf found to v.
func (s *scratch) setKey(e *event.Event, k hitKey, v []byte) error {
	switch k.kind {
	case keyField:
		return s.set(e, k.f, v)
	case keyAmount:
		var err error
		e.Revenue, err = event.ParseAmount(v)
		return err
	case keyTime:
		return setTime(e, v)
	case keyEventID:
		return setEventID(e, v)
	case keyAlias:
		if len(e.F[k.f]) > 0 {
			return nil // the field itself, or an earlier alias, says it
		}
		return s.set(e, k.f, v)
	}
	return nil
}

// unknownKeyError is a key that is no field, no prop and no campaign
// parameter: refused with its name, so that a value sent under a wrong
// name (value= for revenue, a typo) is seen at once.
type unknownKeyError struct{ key string }

func (e unknownKeyError) Error() string {
	return "unknown key " + strconv.Quote(e.key) + ": not a field; a custom value goes in props (p." + e.key +
		" on the pixel), a cache buster's name starts with _"
}

// collectorFieldError is ip or user_agent from a browser: those the
// collector takes from the connection.
type collectorFieldError struct{ key string }

func (e collectorFieldError) Error() string {
	return e.key + " is taken from the connection; only the server API (/api/v1/events) may send it"
}

// truncateKey bounds a key quoted in an answer.
func truncateKey(k []byte) []byte {
	if len(k) > 64 {
		return k[:64]
	}
	return k
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
