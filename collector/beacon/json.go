package beacon

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"footfall/internal/event"
)

// parseBody reads the request body, one JSON object or an array of them,
// into s.events. trusted (the server API) may also set the client's ip and
// user_agent, which a browser may not.
func (h *Handler) parseBody(ctx *fasthttp.RequestCtx, s *scratch, trusted bool) error {
	body := ctx.PostBody()
	if len(body) == 0 {
		return errEmptyBody
	}
	replaceLoneSurrogates(body)
	v, err := s.parser.ParseBytes(body)
	if err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	switch v.Type() {
	case fastjson.TypeObject:
		return h.parseEvent(s, v, trusted)
	case fastjson.TypeArray:
		arr, _ := v.Array()
		if len(arr) == 0 {
			return errEmptyBatch
		}
		if len(arr) > h.cfg.MaxBatchEvents {
			return fmt.Errorf("batch of %d events, at most %d", len(arr), h.cfg.MaxBatchEvents)
		}
		for i, item := range arr {
			if err := h.parseEvent(s, item, trusted); err != nil {
				return batchErr(len(arr), i, err)
			}
		}
		return nil
	}
	return errNotObject
}

// replaceLoneSurrogates rewrites, in place, every \uXXXX escape of a lone
// UTF-16 surrogate to \ufffd, the same length. JavaScript strings may hold
// lone surrogates and JSON.stringify writes them so; fastjson would keep
// the six characters of such an escape as text, where a browser shows
// U+FFFD, which is what every other invalid character becomes (see
// event.Clean).
func replaceLoneSurrogates(b []byte) {
	i := bytes.IndexByte(b, '\\')
	if i < 0 {
		return
	}
	for ; i+1 < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if b[i+1] != 'u' {
			i++ // \\, \" ...: the next byte is not an escape's start
			continue
		}
		r, ok := hex4(b[i+2:])
		switch {
		case !ok:
			i++
		case r >= 0xD800 && r <= 0xDBFF:
			if len(b) >= i+12 && b[i+6] == '\\' && b[i+7] == 'u' {
				if lo, ok := hex4(b[i+8:]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					i += 11 // a pair: one character
					continue
				}
			}
			copy(b[i+2:], "fffd")
			i += 5
		case r >= 0xDC00 && r <= 0xDFFF:
			copy(b[i+2:], "fffd")
			i += 5
		default:
			i += 5
		}
	}
}

// hex4 reads four hex digits.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		d := unhex(c)
		if d > 15 {
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// parseEvent reads one JSON object into a new event of s. A key that names
// nothing is refused (keyOf); the snippet is served by the collector it
// sends to, so their keys agree.
func (h *Handler) parseEvent(s *scratch, v *fastjson.Value, trusted bool) error {
	o, err := v.Object()
	if err != nil {
		return errNotObject
	}
	e := s.next()
	o.Visit(func(k []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		err = h.setJSON(s, e, k, v, trusted)
	})
	return err
}

func (h *Handler) setJSON(s *scratch, e *event.Event, k []byte, v *fastjson.Value, trusted bool) error {
	if string(k) == "props" {
		return setProps(s, e, v)
	}
	key, err := keyOf(k, trusted)
	if err != nil {
		return err
	}
	if v.Type() == fastjson.TypeNull {
		return nil // null is no value, as if the key were absent
	}
	if key.kind == keyAmount {
		raw, err := scalar(s, v)
		if err != nil {
			return fmt.Errorf("revenue: %w", err)
		}
		return s.setKey(e, key, raw)
	}
	if key.kind == keyLanding || key.kind == keyCacheBuster {
		return nil
	}
	b, err := v.StringBytes()
	if err != nil {
		return fieldTypeError{string(truncateKey(k))}
	}
	return s.setKey(e, key, b)
}

// setProps reads a flat object of custom properties; numbers and booleans
// are kept as their JSON text.
func setProps(s *scratch, e *event.Event, v *fastjson.Value) error {
	o, err := v.Object()
	if err != nil {
		return errPropsObject
	}
	o.Visit(func(k []byte, v *fastjson.Value) {
		if err != nil || v.Type() == fastjson.TypeNull {
			return
		}
		var val []byte
		if val, err = scalar(s, v); err == nil {
			err = s.addProp(e, k, val)
		}
	})
	return err
}

// scalar returns a string's bytes, or the JSON text of a number or boolean
// copied into the arena.
func scalar(s *scratch, v *fastjson.Value) ([]byte, error) {
	switch v.Type() {
	case fastjson.TypeString:
		return v.GetStringBytes(), nil
	case fastjson.TypeNumber, fastjson.TypeTrue, fastjson.TypeFalse:
		start := len(s.arena)
		s.arena = v.MarshalTo(s.arena)
		return s.arena[start:len(s.arena):len(s.arena)], nil
	}
	return nil, errScalar
}

var (
	errEmptyBody      = errors.New("empty body: send a JSON event object or an array of them")
	errEmptyBatch     = errors.New("empty batch")
	errNotObject      = errors.New("an event must be a JSON object")
	errPropsObject    = errors.New("props must be a flat JSON object")
	errScalar         = errors.New("must be a string, number or boolean")
	errMethodGet      = errors.New("use GET")
	errMethodPost     = errors.New("use POST")
	errUnauthorized   = errors.New("missing or unknown API key: send Authorization: Bearer <site key>")
	errWrongSite      = errors.New("this API key may not write to that site")
	errUnknownSite    = errors.New("unknown site: no site has this id (sites are made in the dashboards, POST /api/v1/sites)")
	errForeignPage    = errors.New("foreign domain: the page's URL is on none of the site's domains")
	errForeignOrigin  = errors.New("foreign domain: the Origin is on none of the site's domains")
	errNoName         = errors.New("a query parameter without a name (=value)")
	errIP             = errors.New("ip is not an IPv4 or IPv6 address")
	errAddressLimited = errors.New("too many events from this address: send again after Retry-After seconds")
	errSiteLimited    = errors.New("too many events for this site: send again after Retry-After seconds")
)

type fieldTypeError struct{ key string }

func (e fieldTypeError) Error() string { return e.key + " must be a string" }

// batchErr says which event of a batch was wrong; a lone event needs no index.
func batchErr(n, i int, err error) error {
	if n == 1 {
		return err
	}
	return fmt.Errorf("event %d: %w", i, err)
}
