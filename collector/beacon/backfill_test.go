package beacon

import (
	"strings"
	"testing"
	"time"

	"footfall/internal/event"
)

// TestHistoryTime: the server API takes an event's time (RFC 3339) within
// -max-event-age back and -future-skew ahead; the event is stamped with it
// and with an id of that time, the same id for the same event sent again
// and another for another event; an event_id given is kept; browsers may
// send neither.
func TestHistoryTime(t *testing.T) {
	const api = "Bearer shop-secret-key"
	send := func(h *Handler, body string) (int, string) {
		ctx := do(h, req{method: "POST", uri: "/api/v1/events", auth: api, body: body})
		return ctx.Response.StatusCode(), string(ctx.Response.Body())
	}
	q := &queue{}
	h := newHandler(q)
	order := `{"type":"purchase","user_id":"ann@example.com","order_id":"H-1","revenue":"120.00","currency":"EUR","time":"2026-07-26T10:15:00+02:00"}`
	for i := 0; i < 2; i++ {
		if ctx := do(h, req{method: "POST", uri: "/api/v1/events", auth: api, body: order}); ctx.Response.StatusCode() != 202 {
			t.Fatalf("history refused: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	other := strings.Replace(order, "H-1", "H-2", 1)
	do(h, req{method: "POST", uri: "/api/v1/events", auth: api, body: other})
	given := `{"type":"pageview","visitor_id":"v1","url":"https://shop.example/","time":"2026-07-26T08:00:00Z","event_id":"0190f0b1-7c2a-7def-8abc-0123456789ab"}`
	do(h, req{method: "POST", uri: "/api/v1/events", auth: api, body: given})
	if len(q.got) != 4 {
		t.Fatalf("%d events queued, want 4", len(q.got))
	}
	at := time.Date(2026, 7, 26, 8, 15, 0, 0, time.UTC).UnixMilli()
	a, b, c, d := q.got[0], q.got[1], q.got[2], q.got[3]
	if a.TimeMs != at || c.TimeMs != at {
		t.Errorf("times %d and %d, want %d", a.TimeMs, c.TimeMs, at)
	}
	if a.ID != b.ID {
		t.Errorf("the same history sent twice has ids %s and %s", event.IDString(a.ID), event.IDString(b.ID))
	}
	if a.ID == c.ID {
		t.Errorf("two orders have one id %s", event.IDString(a.ID))
	}
	if event.IDTimeMs(a.ID) != at || a.ID[6]>>4 != 7 {
		t.Errorf("id %s is no UUIDv7 of the event's time", event.IDString(a.ID))
	}
	if got := event.IDString(d.ID); got != "0190f0b1-7c2a-7def-8abc-0123456789ab" || d.TimeMs != time.Date(2026, 7, 26, 8, 0, 0, 0, time.UTC).UnixMilli() {
		t.Errorf("given id and time: %s at %d", got, d.TimeMs)
	}

	// A live event still gets the receive time and a fresh id.
	q2 := &queue{}
	do(newHandler(q2), req{method: "POST", uri: "/api/v1/events", auth: api, body: `{"type":"pageview","visitor_id":"v1"}`})
	if len(q2.got) != 1 || q2.got[0].TimeMs != fixedNow.UnixMilli() {
		t.Fatalf("live event: %+v", q2.got)
	}

	refused := []struct{ body, err string }{
		{`{"type":"purchase","order_id":"H-3","time":"2025-10-01T00:00:00Z"}`, "older than 9600h0m0s"},
		{`{"type":"pageview","visitor_id":"v","time":"2026-11-23T10:06:00Z"}`, "in the future"},
		{`{"type":"pageview","visitor_id":"v","time":"2026-11-23 10:00:00"}`, "RFC 3339"},
		{`{"type":"pageview","visitor_id":"v","time":"2026-11-23T10:00:00"}`, "RFC 3339"},
		{`{"type":"pageview","visitor_id":"v","time":1732356000}`, "time must be a string"},
		{`{"type":"pageview","visitor_id":"v","event_id":"0190f0b1-7c2a-7def-8abc-0123456789ab"}`, "needs the event's time"},
		{`{"type":"pageview","visitor_id":"v","time":"2026-11-01T00:00:00Z","event_id":"x"}`, "event_id must be a UUID"},
		{`{"type":"pageview","visitor_id":"v","time":"2026-11-01T00:00:00Z","event_id":"00000000-0000-0000-0000-000000000000"}`, "event_id must be a UUID"},
	}
	for _, r := range refused {
		code, body := send(newHandler(&queue{}), r.body)
		if code != 400 || !strings.Contains(body, r.err) {
			t.Errorf("%s: %d %s, want 400 with %q", r.body, code, body, r.err)
		}
	}
	// Within the bounds: 399 days back, 4 minutes ahead.
	for _, at := range []time.Time{fixedNow.Add(-399 * 24 * time.Hour), fixedNow.Add(4 * time.Minute)} {
		body := `{"type":"pageview","visitor_id":"v","time":"` + at.Format(time.RFC3339) + `"}`
		if code, msg := send(newHandler(&queue{}), body); code != 202 {
			t.Errorf("%s: %d %s", body, code, msg)
		}
	}
	// Browsers send no history.
	for _, r := range []req{
		{method: "POST", uri: "/e", body: `{"site":"shop","type":"pageview","time":"2026-11-01T00:00:00Z"}`},
		{method: "GET", uri: "/p.gif?site=shop&time=2026-11-01T00:00:00Z"},
		{method: "POST", uri: "/e", body: `{"site":"shop","type":"pageview","event_id":"0190f0b1-7c2a-7def-8abc-0123456789ab"}`},
	} {
		ctx := do(newHandler(&queue{}), r)
		if refusal(ctx) != 400 || !strings.Contains(errorOf(t, ctx), "only the server API") {
			t.Errorf("%s %s: %d %s", r.uri, r.body, ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}
