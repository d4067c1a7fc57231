package beacon

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"footfall/collector/kafkaout"
	"footfall/internal/event"
	"footfall/internal/sites"
)

const chromeUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// queue decodes and keeps what it is given, or refuses when full.
type queue struct {
	mu   sync.Mutex
	full bool
	got  []event.Event
	keys []string
}

func (q *queue) Enqueue(msgs ...kafkaout.Msg) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.full {
		return kafkaout.ErrFull
	}
	for _, m := range msgs {
		var e event.Event
		if err := event.Decode(bytes.Clone(m.Value), &e); err != nil {
			panic(err)
		}
		q.got = append(q.got, e)
		q.keys = append(q.keys, string(m.Key))
	}
	return nil
}

var fixedNow = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// testSites are the sites the handlers' tests send to, shop with the
// server API key shop-secret-key, none restricted to domains.
func testSites() *sites.Registry {
	return sites.NewStatic(
		sites.Site{ID: "demo", TimeZone: "UTC", Currency: "EUR"},
		sites.Site{ID: "a", TimeZone: "UTC", Currency: "EUR"},
		sites.Site{ID: "other", TimeZone: "UTC", Currency: "EUR"},
		sites.Site{ID: "id-site", TimeZone: "UTC", Currency: "EUR"}, // fields_test's sampleValue
		sites.Site{ID: "shop", TimeZone: "UTC", Currency: "EUR", Keys: []sites.Key{{ID: "k1", Hash: sites.HashKey([]byte("shop-secret-key"))}}})
}

func newHandler(q Queue) *Handler {
	return New(Config{
		Sites:            testSites(),
		CookielessSecret: []byte("salt"),
		MaxBatchEvents:   3,
		Now:              func() time.Time { return fixedNow },
	}, q, nil)
}

type req struct {
	method, uri, body, ua, auth string
	ip                          string
}

func do(h *Handler, r req) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ip := r.ip
	if ip == "" {
		ip = "203.0.113.77"
	}
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP(ip), Port: 4000}, nil)
	ctx.Request.Header.SetMethod(r.method)
	ctx.Request.SetRequestURI(r.uri)
	if r.ua != "-" {
		ua := r.ua
		if ua == "" {
			ua = chromeUA
		}
		ctx.Request.Header.SetUserAgent(ua)
	}
	if r.auth != "" {
		ctx.Request.Header.Set("Authorization", r.auth)
	}
	ctx.Request.SetBodyString(r.body)
	h.Handle(&ctx)
	return &ctx
}

func errorOf(t *testing.T, ctx *fasthttp.RequestCtx) string {
	t.Helper()
	if pixelRefused(ctx) {
		return string(ctx.Response.Header.Peek("X-Footfall-Error"))
	}
	var body struct{ Error string }
	if err := json.Unmarshal(ctx.Response.Body(), &body); err != nil {
		t.Fatalf("error body is not JSON: %q", ctx.Response.Body())
	}
	return body.Error
}

// pixelRefused says whether ctx is the pixel's refusal: its image, 200,
// and the reason in X-Footfall-Rejected (a page never shows a broken
// image).
func pixelRefused(ctx *fasthttp.RequestCtx) bool {
	return ctx.Response.StatusCode() == 200 && bytes.Equal(ctx.Response.Body(), GIF) &&
		len(ctx.Response.Header.Peek("X-Footfall-Rejected")) > 0 && len(ctx.Response.Header.Peek("X-Footfall-Error")) > 0
}

// refusal is the status of an answer, a pixel's refusal (pixelRefused)
// reading as 400: the tables of refusals list every endpoint alike.
func refusal(ctx *fasthttp.RequestCtx) int {
	if pixelRefused(ctx) {
		return 400
	}
	return ctx.Response.StatusCode()
}

func TestPixel(t *testing.T) {
	q := &queue{}
	h := newHandler(q)
	ctx := do(h, req{method: "GET", uri: "/p.gif?site=demo&url=https%3A%2F%2Fshop.example%2Fa%3Fx%3D1&title=Caf%C3%A9&p.plan=pro&_=123"})
	if ctx.Response.StatusCode() != 200 || !bytes.Equal(ctx.Response.Body(), GIF) {
		t.Fatalf("status %d body %q", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if cc := string(ctx.Response.Header.Peek("Cache-Control")); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q", cc)
	}
	if len(q.got) != 1 {
		t.Fatalf("queued %d events", len(q.got))
	}
	e := q.got[0]
	checks := map[event.Field]string{
		event.Site: "demo", event.Type: "pageview", event.URL: "https://shop.example/a?x=1",
		event.Title: "Café", event.IP: "203.0.113.0", event.UserAgent: chromeUA,
	}
	for f, want := range checks {
		if got := e.Get(f); got != want {
			t.Errorf("%s = %q, want %q", event.Specs[f].Key, got, want)
		}
	}
	if e.TimeMs != fixedNow.UnixMilli() || event.IDTimeMs(e.ID) != fixedNow.UnixMilli() || e.Ingest != event.IngestPixel {
		t.Errorf("time %d, id time %d, ingest %v", e.TimeMs, event.IDTimeMs(e.ID), e.Ingest)
	}
	if len(e.Props) != 1 || string(e.Props[0].Key) != "plan" || string(e.Props[0].Value) != "pro" {
		t.Errorf("props %+v", e.Props)
	}
	vid := e.Get(event.VisitorID)
	if !strings.HasPrefix(vid, "c-") || len(vid) != 18 || q.keys[0] != vid {
		t.Errorf("cookieless visitor id %q, key %q", vid, q.keys[0])
	}
	// Same visitor, same day: same id; another address: another id.
	do(h, req{method: "GET", uri: "/p.gif?site=demo"})
	do(h, req{method: "GET", uri: "/p.gif?site=demo", ip: "198.51.100.1"})
	if q.got[1].Get(event.VisitorID) != vid || q.got[2].Get(event.VisitorID) == vid {
		t.Errorf("cookieless ids: %q %q %q", vid, q.got[1].Get(event.VisitorID), q.got[2].Get(event.VisitorID))
	}
}

func TestPixelURLFromReferer(t *testing.T) {
	q := &queue{}
	h := newHandler(q)
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/p?site=demo&visitor_id=v1")
	ctx.Request.Header.SetUserAgent(chromeUA)
	ctx.Request.Header.SetReferer("https://news.example/post")
	h.Handle(&ctx)
	if len(q.got) != 1 || q.got[0].Get(event.URL) != "https://news.example/post" || q.got[0].Get(event.VisitorID) != "v1" {
		t.Fatalf("got %+v", q.got)
	}
}

func TestPixelIPv6Anonymised(t *testing.T) {
	q := &queue{}
	do(newHandler(q), req{method: "GET", uri: "/p.gif?site=demo", ip: "2001:db8:1234:5678:9abc::1"})
	if got := q.got[0].Get(event.IP); got != "2001:db8:1234::" {
		t.Errorf("ip %q", got)
	}
}

func TestPixelBotGetsImageButIsDropped(t *testing.T) {
	q := &queue{}
	ctx := do(newHandler(q), req{method: "GET", uri: "/p.gif?site=demo", ua: "Mozilla/5.0 (compatible; bingbot/2.0)"})
	if ctx.Response.StatusCode() != 200 || !bytes.Equal(ctx.Response.Body(), GIF) {
		t.Fatalf("bot did not get the image: %d", ctx.Response.StatusCode())
	}
	if string(ctx.Response.Header.Peek("X-Footfall-Dropped")) != "bot" || len(q.got) != 0 {
		t.Fatalf("bot hit kept: %d queued", len(q.got))
	}
}

func TestRejections(t *testing.T) {
	cases := []struct {
		name   string
		r      req
		status int
		err    string
	}{
		{"pixel without site", req{method: "GET", uri: "/p.gif?url=x"}, 400, "site is required"},
		{"pixel POST", req{method: "POST", uri: "/p.gif?site=demo"}, 405, "use GET"},
		{"beacon not JSON", req{method: "POST", uri: "/e", body: "{site:"}, 400, ""},
		{"beacon empty", req{method: "POST", uri: "/e"}, 400, "empty body: send a JSON event object or an array of them"},
		{"beacon scalar", req{method: "POST", uri: "/e", body: `"x"`}, 400, "an event must be a JSON object"},
		{"beacon url number", req{method: "POST", uri: "/e", body: `{"site":"demo","type":"pageview","url":5}`}, 400, "url must be a string"},
		{"beacon no type", req{method: "POST", uri: "/e", body: `{"site":"demo"}`}, 400, "type is required"},
		{"beacon batch bad item", req{method: "POST", uri: "/e", body: `[{"site":"demo","type":"pageview"},{"type":"pageview"}]`}, 400, "event 1: site is required"},
		{"beacon batch too big", req{method: "POST", uri: "/e", body: `[{},{},{},{}]`}, 400, "batch of 4 events, at most 3"},
		{"beacon nested prop", req{method: "POST", uri: "/e", body: `{"site":"demo","type":"x","props":{"a":{"b":1}}}`}, 400, "must be a string, number or boolean"},
		{"beacon bad revenue", req{method: "POST", uri: "/e", body: `{"site":"demo","type":"purchase","revenue":"ten","currency":"EUR"}`}, 400, "revenue is not a decimal number with at most 6 decimals"},
		{"beacon revenue no currency", req{method: "POST", uri: "/e", body: `{"site":"demo","type":"purchase","revenue":10}`}, 400, "revenue needs a currency"},
		{"api no key", req{method: "POST", uri: "/api/v1/events", body: `{"type":"purchase"}`}, 401, "missing or unknown API key: send Authorization: Bearer <site key>"},
		{"api wrong key", req{method: "POST", uri: "/api/v1/events", auth: "Bearer nope-nope-nope", body: `{"type":"purchase"}`}, 401, "missing or unknown API key: send Authorization: Bearer <site key>"},
		{"api other site", req{method: "POST", uri: "/api/v1/events", auth: "Bearer shop-secret-key", body: `{"site":"demo","type":"purchase"}`}, 403, "this API key may not write to that site"},
	}
	for _, c := range cases {
		q := &queue{}
		ctx := do(newHandler(q), c.r)
		if refusal(ctx) != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.name, ctx.Response.StatusCode(), c.status, ctx.Response.Body())
			continue
		}
		if got := errorOf(t, ctx); c.err != "" && got != c.err {
			t.Errorf("%s: error %q, want %q", c.name, got, c.err)
		}
		if len(q.got) != 0 {
			t.Errorf("%s: %d events queued", c.name, len(q.got))
		}
	}
}

func TestBeaconBatch(t *testing.T) {
	q := &queue{}
	body := `[{"site":"demo","type":"pageview","visitor_id":"v1","url":"https://a.example/"},
	          {"site":"demo","type":"add_to_cart","visitor_id":"v1","props":{"sku":"A1","qty":2,"gift":true,"none":null}}]`
	ctx := do(newHandler(q), req{method: "POST", uri: "/e", body: body})
	if ctx.Response.StatusCode() != 202 {
		t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if len(q.got) != 2 || q.got[0].ID == q.got[1].ID {
		t.Fatalf("got %d events", len(q.got))
	}
	if ip := q.got[0].Get(event.IP); ip != "203.0.113.0" {
		t.Errorf("ip %q, want the connection's", ip)
	}
	props := map[string]string{}
	for _, p := range q.got[1].Props {
		props[string(p.Key)] = string(p.Value)
	}
	if props["sku"] != "A1" || props["qty"] != "2" || props["gift"] != "true" || len(props) != 3 {
		t.Errorf("props %v", props)
	}
	if q.keys[0] != "v1" || q.keys[1] != "v1" {
		t.Errorf("keys %v", q.keys)
	}
	if ctx.Response.Header.Peek("Access-Control-Allow-Origin") == nil {
		t.Error("no CORS header")
	}
}

func TestAPIOrder(t *testing.T) {
	q := &queue{}
	body := `{"type":"purchase","order_id":"A-1001","revenue":"129.90","currency":"EUR","user_id":"ann@example.com","ip":"192.0.2.10","user_agent":"curl/8"}`
	ctx := do(newHandler(q), req{method: "POST", uri: "/api/v1/events", auth: "Bearer shop-secret-key", body: body, ua: "Go-http-client/1.1"})
	if ctx.Response.StatusCode() != 202 {
		t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	e := q.got[0]
	if e.Get(event.Site) != "shop" || e.Revenue != 129_900_000 || e.Get(event.Currency) != "EUR" || e.Ingest != event.IngestAPI {
		t.Errorf("event %+v", e)
	}
	// The backend states the shopper's address; it is stored anonymised
	// as every other (/24), and the backend's own address is not used.
	if e.Get(event.IP) != "192.0.2.0" || e.Get(event.UserAgent) != "curl/8" || q.keys[0] != "ann@example.com" {
		t.Errorf("ip %q ua %q key %q", e.Get(event.IP), e.Get(event.UserAgent), q.keys[0])
	}
}

// TestQueueFull: a full queue or write-ahead log answers 503 with
// Retry-After; the pixel still answers its image, the reason in a header.
func TestQueueFull(t *testing.T) {
	q := &queue{full: true}
	ctx := do(newHandler(q), req{method: "GET", uri: "/p.gif?site=demo"})
	if ctx.Response.StatusCode() != 503 || string(ctx.Response.Header.Peek("Retry-After")) != "1" {
		t.Fatalf("status %d", ctx.Response.StatusCode())
	}
	if !bytes.Equal(ctx.Response.Body(), GIF) || string(ctx.Response.Header.ContentType()) != "image/gif" ||
		string(ctx.Response.Header.Peek("X-Footfall-Rejected")) != "queue_full" {
		t.Errorf("pixel refused with %q %q", ctx.Response.Header.ContentType(), ctx.Response.Body())
	}
	ctx = do(newHandler(q), req{method: "POST", uri: "/e", body: `{"site":"demo","type":"pageview","url":"https://a.example/"}`})
	if ctx.Response.StatusCode() != 503 || string(ctx.Response.Header.Peek("Retry-After")) != "1" {
		t.Fatalf("beacon status %d", ctx.Response.StatusCode())
	}
	if got := errorOf(t, ctx); got != "event queue is full" {
		t.Errorf("error %q", got)
	}
}

func TestHealth(t *testing.T) {
	h := newHandler(&queue{})
	if c := do(h, req{method: "GET", uri: "/healthz"}); c.Response.StatusCode() != 200 {
		t.Error("healthz")
	}
	if c := do(h, req{method: "GET", uri: "/readyz"}); c.Response.StatusCode() != 503 {
		t.Error("readyz before SetReady(true) must fail")
	}
	h.SetReady(true)
	if c := do(h, req{method: "GET", uri: "/readyz"}); c.Response.StatusCode() != 200 {
		t.Error("readyz")
	}
}

type discard struct{}

func (discard) Enqueue(...kafkaout.Msg) error { return nil }

func TestPixelDoesNotAllocate(t *testing.T) {
	h := newHandler(discard{})
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP("203.0.113.77"), Port: 4000}, nil)
	uri := "/p.gif?site=demo&visitor_id=0b6f1d2e-4c1a&url=https%3A%2F%2Fshop.example%2Fp%2F42&referrer=https%3A%2F%2Fwww.google.com%2F&title=Blue+shoes&utm_source=news&p.sku=42"
	run := func() {
		ctx.Response.Reset()
		ctx.Request.SetRequestURI(uri)
		ctx.Request.Header.SetUserAgent(chromeUA)
		h.Handle(&ctx)
	}
	run()
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Fatalf("pixel hit allocates %v times", n)
	}
}

func BenchmarkPixel(b *testing.B) {
	h := newHandler(discard{})
	uri := "/p.gif?site=demo&visitor_id=0b6f1d2e-4c1a&url=https%3A%2F%2Fshop.example%2Fp%2F42&referrer=https%3A%2F%2Fwww.google.com%2F&title=Blue+shoes&utm_source=news&p.sku=42"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP("203.0.113.77"), Port: 4000}, nil)
		for pb.Next() {
			ctx.Response.Reset()
			ctx.Request.SetRequestURI(uri)
			ctx.Request.Header.SetUserAgent(chromeUA)
			h.Handle(&ctx)
		}
	})
}

func BenchmarkBeacon(b *testing.B) {
	h := newHandler(discard{})
	body := []byte(`{"site":"demo","type":"add_to_cart","visitor_id":"v1","url":"https://shop.example/p/42","props":{"sku":"A1","qty":2}}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP("203.0.113.77"), Port: 4000}, nil)
		for pb.Next() {
			ctx.Response.Reset()
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI("/e")
			ctx.Request.Header.SetUserAgent(chromeUA)
			ctx.Request.SetBodyRaw(body)
			h.Handle(&ctx)
		}
	})
}

func TestScript(t *testing.T) {
	h := newHandler(&queue{})
	if c := do(h, req{method: "GET", uri: "/t.js"}); c.Response.StatusCode() != 404 {
		t.Errorf("no script set: %d", c.Response.StatusCode())
	}
	h.SetScript([]byte("(()=>{})();"))
	c := do(h, req{method: "GET", uri: "/t.js"})
	if c.Response.StatusCode() != 200 || string(c.Response.Body()) != "(()=>{})();" {
		t.Fatalf("status %d body %q", c.Response.StatusCode(), c.Response.Body())
	}
	if cc := string(c.Response.Header.Peek("Cache-Control")); cc != "public, max-age=3600" {
		t.Errorf("Cache-Control %q", cc)
	}
	if ct := string(c.Response.Header.ContentType()); !strings.HasPrefix(ct, "application/javascript") {
		t.Errorf("Content-Type %q", ct)
	}
}
