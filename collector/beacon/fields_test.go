package beacon

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"footfall/internal/event"
)

// sampleValue is a valid value for field f.
func sampleValue(f event.Field) string {
	switch event.Specs[f].Kind {
	case event.Lower:
		return "purchase"
	case event.CurrencyCode:
		return "EUR"
	case event.Ident:
		return "id-" + event.Specs[f].Key
	case event.Link:
		return "https://shop.example/" + event.Specs[f].Key
	}
	return "text " + event.Specs[f].Key
}

// The pixel takes every key the JSON endpoint takes, with the same
// result: no field is accepted by one and dropped by the other.
func TestPixelTakesEveryJSONField(t *testing.T) {
	qs := url.Values{"revenue": {"100"}, "p.colour": {"red"}}
	js := map[string]any{"revenue": "100", "props": map[string]any{"colour": "red"}}
	for f := range event.NumFields {
		if !event.Specs[f].Client {
			continue
		}
		qs.Set(event.Specs[f].Key, sampleValue(f))
		js[event.Specs[f].Key] = sampleValue(f)
	}
	q := &queue{}
	h := newHandler(q)
	if c := do(h, req{method: "GET", uri: "/p.gif?" + qs.Encode()}); c.Response.StatusCode() != 200 || !bytes.Equal(c.Response.Body(), GIF) {
		t.Fatalf("pixel: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	if c := do(h, req{method: "POST", uri: "/e", body: mustJSON(t, js)}); c.Response.StatusCode() != 202 {
		t.Fatalf("beacon: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	pixel, beacon := q.got[0], q.got[1]
	for f := range event.NumFields {
		if !event.Specs[f].Client || f == event.VisitorID {
			continue
		}
		if pixel.Get(f) != sampleValue(f) || beacon.Get(f) != pixel.Get(f) {
			t.Errorf("%s: pixel %q, beacon %q, want %q", event.Specs[f].Key, pixel.Get(f), beacon.Get(f), sampleValue(f))
		}
	}
	if pixel.Revenue != 100_000_000 || beacon.Revenue != pixel.Revenue {
		t.Errorf("revenue: pixel %d, beacon %d", pixel.Revenue, beacon.Revenue)
	}
	if len(pixel.Props) != 1 || len(beacon.Props) != 1 {
		t.Errorf("props: pixel %v, beacon %v", pixel.Props, beacon.Props)
	}
}

// The input, and the refusals the JSON endpoint gives.
func TestPixelRevenue(t *testing.T) {
	q := &queue{}
	h := newHandler(q)
	c := do(h, req{method: "GET", uri: "/p.gif?site=shop&type=purchase&order_id=A1&revenue=100&currency=EUR"})
	if c.Response.StatusCode() != 200 || len(q.got) != 1 || q.got[0].Revenue != 100_000_000 || q.got[0].Get(event.OrderID) != "A1" {
		t.Fatalf("status %d, events %+v", c.Response.StatusCode(), q.got)
	}
	for uri, want := range map[string]string{
		"/p.gif?site=shop&type=purchase&revenue=100":              "revenue needs a currency",
		"/p.gif?site=shop&type=purchase&revenue=ten&currency=EUR": "revenue is not a decimal number with at most 6 decimals",
	} {
		if c := do(h, req{method: "GET", uri: uri}); refusal(c) != 400 || errorOf(t, c) != want {
			t.Errorf("%s: %d %s, want 400 %q", uri, c.Response.StatusCode(), c.Response.Body(), want)
		}
	}
}

// Invalid UTF-8 and NUL bytes are replaced the same way on every endpoint,
// in every text field, prop keys included: U+FFFD in text, the byte's
// escape in a URL.
func TestTextIsCleanedAlike(t *testing.T) {
	const (
		bad  = "Caf\xe9 \x00 \xed\xa0\x80"
		text = "Caf\uFFFD \uFFFD \uFFFD\uFFFD\uFFFD"
		link = "https://shop.example/Caf%E9%20%00"
	)
	esc := url.QueryEscape
	pixel := "/p.gif?site=shop&title=" + esc(bad) + "&name=" + esc(bad) + "&url=" + esc("https://shop.example/Caf\xe9%20\x00") +
		"&p." + esc("k\xff") + "=" + esc(bad)
	jsonBody := "{\"site\":\"shop\",\"type\":\"pageview\",\"title\":\"Caf\xe9 \\u0000 \xed\xa0\x80\",\"name\":\"Caf\xe9 \x00 \xed\xa0\x80\"," +
		"\"url\":\"https://shop.example/Caf\xe9%20\\u0000\",\"props\":{\"k\xff\":\"Caf\xe9 \\u0000 \xed\xa0\x80\"}}"
	q := &queue{}
	h := newHandler(q)
	for _, r := range []req{
		{method: "GET", uri: pixel, ua: "Mozilla/5.0 \xff"},
		{method: "POST", uri: "/e", body: jsonBody, ua: "Mozilla/5.0 \xff"},
		{method: "POST", uri: "/api/v1/events", auth: "Bearer shop-secret-key", body: strings.Replace(jsonBody, `"type"`, "\"user_agent\":\"Mozilla/5.0 \xff\",\"type\"", 1)},
	} {
		c := do(h, r)
		if s := c.Response.StatusCode(); s != 200 && s != 202 {
			t.Fatalf("%s: %d %s", r.uri, s, c.Response.Body())
		}
	}
	for i, e := range q.got {
		if e.Get(event.Title) != text || e.Get(event.Name) != text || e.Get(event.URL) != link {
			t.Errorf("event %d: title %q name %q url %q", i, e.Get(event.Title), e.Get(event.Name), e.Get(event.URL))
		}
		if len(e.Props) != 1 || string(e.Props[0].Key) != "k\uFFFD" || string(e.Props[0].Value) != text {
			t.Errorf("event %d: props %q", i, e.Props)
		}
		if e.Get(event.UserAgent) != "Mozilla/5.0 \uFFFD" {
			t.Errorf("event %d: user agent %q", i, e.Get(event.UserAgent))
		}
		for f := range event.NumFields {
			if !event.Clean(e.F[f]) {
				t.Errorf("event %d: %s %q", i, event.Specs[f].Key, e.F[f])
			}
		}
	}
	// Identifiers are refused, as before.
	if c := do(h, req{method: "GET", uri: "/p.gif?site=shop&visitor_id=a%00"}); !pixelRefused(c) {
		t.Errorf("NUL in an identifier: %d", c.Response.StatusCode())
	}
}

// A landing URL longer than its field keeps its campaign tags, on every
// endpoint and from the Referer header too.
func TestLongURLKeepsItsTags(t *testing.T) {
	long := "https://shop.example/p?state=" + strings.Repeat("x", 2100) + "&utm_source=news&utm_medium=email&gbraid=0AAAAAo-test#top"
	want := "https://shop.example/p?utm_source=news&utm_medium=email&gbraid=0AAAAAo-test"
	q := &queue{}
	h := newHandler(q)
	do(h, req{method: "GET", uri: "/p.gif?site=shop&url=" + url.QueryEscape(long) + "&referrer=" + url.QueryEscape(long)})
	do(h, req{method: "POST", uri: "/e", body: `{"site":"shop","type":"pageview","url":"` + long + `","referrer":"` + long + `"}`})
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/p.gif?site=shop")
	ctx.Request.Header.SetUserAgent(chromeUA)
	ctx.Request.Header.SetReferer(long)
	h.Handle(&ctx)
	if len(q.got) != 3 {
		t.Fatalf("%d events", len(q.got))
	}
	for i, e := range q.got {
		if e.Get(event.URL) != want {
			t.Errorf("event %d: url %.120q", i, e.Get(event.URL))
		}
		if i < 2 && e.Get(event.Referrer) != want {
			t.Errorf("event %d: referrer %.120q", i, e.Get(event.Referrer))
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// JSON.stringify writes a lone surrogate as its escape: it becomes U+FFFD,
// a pair stays one character, and an escaped backslash stays text.
func TestLoneSurrogates(t *testing.T) {
	q := &queue{}
	body := `{"site":"shop","type":"pageview","title":"a\ud800b\ud83d\ude00c\udc00\\ud800\ud800"}`
	if c := do(newHandler(q), req{method: "POST", uri: "/e", body: body}); c.Response.StatusCode() != 202 {
		t.Fatalf("%d %s", c.Response.StatusCode(), c.Response.Body())
	}
	if got, want := q.got[0].Get(event.Title), "a\uFFFDb😀c\uFFFD\\ud800\uFFFD"; got != want {
		t.Errorf("title %q, want %q", got, want)
	}
}

// A name of a person or an order too long for its field is refused with
// the reason, never cut: a cut one would name another.
func TestKeysAreRefusedNotCut(t *testing.T) {
	q := &queue{}
	h := newHandler(q)
	long := strings.Repeat("A", 129)
	for _, r := range []req{
		{method: "GET", uri: "/p.gif?site=shop&type=purchase&order_id=" + long},
		{method: "POST", uri: "/e", body: `{"site":"shop","type":"purchase","order_id":"` + long + `"}`},
		{method: "POST", uri: "/api/v1/events", auth: "Bearer shop-secret-key", body: `{"type":"purchase","order_id":"` + long + `"}`},
	} {
		if c := do(h, r); refusal(c) != 400 || errorOf(t, c) != "order_id is longer than 128 bytes" {
			t.Errorf("%s: %d %s", r.uri, c.Response.StatusCode(), c.Response.Body())
		}
	}
	if c := do(h, req{method: "POST", uri: "/e", body: `{"site":"shop","type":"identify","user_id":"` + strings.Repeat("u", 257) + `"}`}); errorOf(t, c) != "user_id is longer than 256 bytes" {
		t.Errorf("long user_id: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	if c := do(h, req{method: "GET", uri: "/p.gif?site=shop&type=purchase&order_id=" + long[:128]}); c.Response.StatusCode() != 200 || q.got[0].Get(event.OrderID) != long[:128] {
		t.Errorf("an order id of 128 bytes: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
}

// TestCurrencyAnyCase: a currency sent in lower or mixed case is taken
// upper-cased, on the pixel, the JSON beacon and the server API alike.
func TestCurrencyAnyCase(t *testing.T) {
	for name, r := range map[string]req{
		"pixel":  {method: "GET", uri: "/p.gif?site=shop&type=purchase&order_id=A1&revenue=5&currency=eur"},
		"beacon": {method: "POST", uri: "/e", body: `{"site":"shop","type":"purchase","order_id":"A1","revenue":5,"currency":"Eur"}`},
		"api":    {method: "POST", uri: "/api/v1/events", auth: "Bearer shop-secret-key", body: `{"type":"purchase","order_id":"A1","revenue":"5","currency":"eUR","user_id":"c1"}`},
	} {
		q := &queue{}
		c := do(newHandler(q), r)
		if code := c.Response.StatusCode(); code >= 300 || len(q.got) != 1 {
			t.Errorf("%s: status %d %s", name, code, c.Response.Body())
			continue
		}
		if got := q.got[0].Get(event.Currency); got != "EUR" || q.got[0].Revenue != 5_000_000 {
			t.Errorf("%s: currency %q revenue %d", name, got, q.got[0].Revenue)
		}
	}
}
