package beacon

import (
	"encoding/json"
	"strings"
	"testing"
)

// checkAnswer holds a fuzzed request's answer to what the endpoints
// promise: an accepted hit's events decode and validate (the queue
// decodes them, panicking otherwise), a refusal says why in JSON.
func checkAnswer(t *testing.T, q *queue, what string, status int, body []byte) {
	t.Helper()
	switch status {
	case 200, 202:
		for _, e := range q.got {
			if err := e.Validate(); err != nil {
				t.Fatalf("%s: accepted an event that does not validate: %v", what, err)
			}
		}
	case 400, 401, 403, 405, 413, 429:
		var r struct{ Error string }
		if err := json.Unmarshal(body, &r); err != nil || r.Error == "" {
			t.Fatalf("%s: refused with %d without a JSON reason: %q", what, status, body)
		}
		if len(q.got) != 0 {
			t.Fatalf("%s: refused with %d, yet %d events queued", what, status, len(q.got))
		}
	default:
		t.Fatalf("%s: status %d", what, status)
	}
}

// FuzzBeacon: no body panics the JSON endpoints (the snippet's /e, the
// server API), and each answer keeps checkAnswer's promises.
func FuzzBeacon(f *testing.F) {
	for _, s := range []string{
		`{"site":"demo","type":"pageview","url":"https://shop.example/p?a=1","props":{"a":1,"b":true,"c":"x"}}`,
		`[{"site":"demo","type":"a"},{"site":"demo","type":"b","revenue":"19.99","currency":"EUR"}]`,
		`{"site":"demo","type":"purchase","revenue":1e400,"currency":"EUR"}`,
		`{"site":"demo","type":"pageview","title":"\ud800 lone \udfff","user_id":"O\u0000"}`,
		`{"site":"demo","type":"subscribe","props":{"lists":"a,,b"}}`,
		`{"site":"demo","type":"x","ip":"203.0.113.7","user_agent":"curl"}`,
		`{"type":"purchase","ip":"[2001:db8::1]:443","order_id":"A1","revenue":"1000000000.000001","currency":"EUR"}`,
		`[]`, `{}`, `null`, `"x"`, `[[1]]`, `{"site":null,"type":null}`, `{"props":[]}`, `\`, `{"a":`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, api bool) {
		q := &queue{}
		h := newHandler(q)
		r := req{method: "POST", uri: "/e", body: string(body)}
		if api {
			r.uri, r.auth = "/api/v1/events", "Bearer shop-secret-key"
		}
		c := do(h, r)
		checkAnswer(t, q, string(body), c.Response.StatusCode(), c.Response.Body())
	})
}

// FuzzPixel: no query string panics the pixel, and each answer keeps
// checkAnswer's promises; an accepted hit answers the GIF.
func FuzzPixel(f *testing.F) {
	for _, s := range append(queryCases,
		"site=demo&type=purchase&revenue=12.5&currency=EUR&p.lists=a,b",
		"site=demo&url=https%3A%2F%2Fshop.example%2F%E2%82%AC&p.x=%FF%00",
		"site=demo&UTM_SOURCE=x&gclid=1&_=2&ref=y", "site=demo&value=1", "site=demo&ip=1.2.3.4",
	) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r == '#' || r == 0x7f }) {
			return // not a query string: a request line ends or splits there, or holds no such byte
		}
		q := &queue{}
		h := newHandler(q)
		c := do(h, req{method: "GET", uri: "/p.gif?" + query})
		checkAnswer(t, q, query, c.Response.StatusCode(), c.Response.Body())
		if c.Response.StatusCode() == 200 && string(c.Response.Body()) != string(GIF) {
			t.Fatalf("%q: 200 without the GIF", query)
		}
	})
}
