package beacon

import (
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

// parseEvent reads one JSON object into a new event of s. Unknown keys are
// ignored so that an older collector keeps taking a newer snippet's events.
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
	switch string(k) {
	case "props":
		return setProps(s, e, v)
	case "revenue":
		raw, err := scalar(s, v)
		if err != nil {
			return fmt.Errorf("revenue: %w", err)
		}
		e.Revenue, err = event.ParseAmount(raw)
		return err
	}
	f, ok := event.FieldByKey(k)
	if !ok || (!event.Specs[f].Client && !trusted) {
		return nil
	}
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	b, err := v.StringBytes()
	if err != nil {
		return fieldTypeError{event.Specs[f].Key}
	}
	return e.Set(f, b)
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
			err = e.AddProp(k, val)
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
	errEmptyBody    = errors.New("empty body: send a JSON event object or an array of them")
	errEmptyBatch   = errors.New("empty batch")
	errNotObject    = errors.New("an event must be a JSON object")
	errPropsObject  = errors.New("props must be a flat JSON object")
	errScalar       = errors.New("must be a string, number or boolean")
	errMethodGet    = errors.New("use GET")
	errMethodPost   = errors.New("use POST")
	errUnauthorized = errors.New("missing or unknown API key: send Authorization: Bearer <site key>")
	errWrongSite    = errors.New("this API key may not write to that site")
	errUnknownSite  = errors.New("unknown site")
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
