package beacon

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"footfall/internal/event"
)

// History through the server API (backfill). A shop's backend may send
// the events it already has (past orders, past visits) with the time they
// happened: "time" (RFC 3339) and, optionally, "event_id" (the sender's
// UUID of the event). Such an event is stored at its own time, so it
// counts in every report and rule of that time, as if it had come then.
//
// Sending the same history twice stores it once: the processor drops an
// event whose id is stored already (an id older than its memory is looked
// up in ClickHouse, see processor/consume), and an event sent with a time
// and no event_id gets an id derived from its content and its time
// (derivedID), so the same event sent again has the same id. A purchase
// of the past whose order id the site has is dropped too (the processor's
// order check), whatever its id.

// historyFieldError is time or event_id sent by a browser.
type historyFieldError struct{ key string }

func (e historyFieldError) Error() string {
	return e.key + " is history: only the server API (/api/v1/events) may send it"
}

var (
	errTime        = errors.New(`time must be an RFC 3339 time with its zone, such as "2026-08-02T10:15:00+02:00"`)
	errEventID     = errors.New("event_id must be a UUID (8-4-4-4-12 hex digits), not all zeros")
	errEventIDTime = errors.New("event_id needs the event's time: an id is the same event only at the same time")
)

// setTime reads a time field: an RFC 3339 time with its zone.
func setTime(e *event.Event, v []byte) error {
	t, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil || t.UnixMilli() <= 0 {
		return errTime
	}
	e.TimeMs = t.UnixMilli()
	return nil
}

// setEventID reads the sender's id of an event.
func setEventID(e *event.Event, v []byte) error {
	id, err := uuid.ParseBytes(v)
	if err != nil || id == uuid.Nil {
		return errEventID
	}
	e.ID = id
	return nil
}

// stampTime gives e its time and id: the receive time and a new id, or for
// history (a time the server API gave) that time, checked against the
// bounds, and the id it gave or one derived from the event.
func (h *Handler) stampTime(s *scratch, e *event.Event, ms int64) error {
	if e.TimeMs == 0 {
		if e.ID != [16]byte{} {
			return errEventIDTime
		}
		e.ID = event.NewID(ms)
		e.TimeMs = ms
		return nil
	}
	if e.TimeMs > ms+h.cfg.FutureSkew.Milliseconds() {
		return fmt.Errorf("time %s is in the future (more than %s ahead of the collector's clock)",
			time.UnixMilli(e.TimeMs).UTC().Format(time.RFC3339), h.cfg.FutureSkew)
	}
	if e.TimeMs < ms-h.cfg.MaxEventAge.Milliseconds() {
		return fmt.Errorf("time %s is older than %s (-max-event-age)",
			time.UnixMilli(e.TimeMs).UTC().Format(time.RFC3339), h.cfg.MaxEventAge)
	}
	if e.ID == [16]byte{} {
		s.hashIn = event.Append(s.hashIn[:0], e)
		e.ID = event.DerivedID(e.TimeMs, sha256.Sum256(s.hashIn))
	}
	return nil
}
