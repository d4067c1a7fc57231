package beacon

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"

	"footfall/collector/clientaddr"
	"footfall/collector/ratelimit"
	"footfall/internal/event"
)

// proxied sends a pixel hit from peer with the given header lines.
func proxied(h *Handler, peer string, header string, values ...string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP(peer), Port: 4000}, nil)
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/p.gif?site=demo")
	ctx.Request.Header.SetUserAgent(chromeUA)
	for _, v := range values {
		ctx.Request.Header.Add(header, v)
	}
	h.Handle(&ctx)
	return &ctx
}

func withProxies(t *testing.T, h *Handler, trusted string, header clientaddr.Header) {
	t.Helper()
	p, err := clientaddr.ParseTrusted(trusted)
	if err != nil {
		t.Fatal(err)
	}
	h.cfg.Proxies = clientaddr.New(p, header)
}

// TestClientBehindProxies: behind a trusted proxy the client is the
// right-most address it did not write itself, over every header line,
// with ports and brackets; a client choosing its left-most entry neither
// changes its stored address nor mints a new cookieless visitor; a peer
// that is no trusted proxy is believed about nothing.
func TestClientBehindProxies(t *testing.T) {
	q := &queue{}
	h := newHandler(q)
	h.cfg.KeepFullIP = true
	withProxies(t, h, "10.0.0.0/8", clientaddr.XForwardedFor)
	cases := []struct {
		peer   string
		values []string
		want   string
	}{
		{"10.0.0.5", []string{"1.1.1.1, 203.0.113.7"}, "203.0.113.7"},
		{"10.0.0.5", []string{"2.2.2.2, 203.0.113.7"}, "203.0.113.7"},
		{"10.0.0.5", []string{"3.3.3.3", "203.0.113.7"}, "203.0.113.7"}, // a second line
		{"10.0.0.5", []string{"203.0.113.7:4711"}, "203.0.113.7"},
		{"10.0.0.5", []string{"[2001:db8::1]:4711, 10.9.9.9"}, "2001:db8::1"},
		{"10.0.0.5", nil, "10.0.0.5"},
		{"198.51.100.9", []string{"203.0.113.7"}, "198.51.100.9"}, // not a trusted proxy
	}
	for _, c := range cases {
		q.got = nil
		proxied(h, c.peer, "X-Forwarded-For", c.values...)
		if len(q.got) != 1 || q.got[0].Get(event.IP) != c.want {
			t.Errorf("from %s with %q: %+v, want ip %s", c.peer, c.values, q.got, c.want)
		}
	}
	// The first two are one visitor: the left-most entry is the client's
	// own claim, and changes nothing.
	q.got = nil
	proxied(h, "10.0.0.5", "X-Forwarded-For", "1.1.1.1, 203.0.113.7")
	proxied(h, "10.0.0.5", "X-Forwarded-For", "9.9.9.9, 203.0.113.7")
	if len(q.got) != 2 || q.got[0].Get(event.VisitorID) != q.got[1].Get(event.VisitorID) {
		t.Errorf("a chosen left-most entry minted another visitor: %q %q", q.got[0].Get(event.VisitorID), q.got[1].Get(event.VisitorID))
	}

	// Forwarded, when that is what the proxies write; X-Forwarded-For is
	// then the client's and ignored.
	withProxies(t, h, "10.0.0.0/8", clientaddr.Forwarded)
	q.got = nil
	proxied(h, "10.0.0.5", "Forwarded", `for=1.1.1.1, for="[2001:db8::1]:4711";proto=https`)
	proxied(h, "10.0.0.5", "X-Forwarded-For", "1.1.1.1")
	if len(q.got) != 2 || q.got[0].Get(event.IP) != "2001:db8::1" || q.got[1].Get(event.IP) != "10.0.0.5" {
		t.Errorf("Forwarded: %q, X-Forwarded-For ignored: %q", q.got[0].Get(event.IP), q.got[1].Get(event.IP))
	}

	// A header announced as a trailer could be appended after the
	// proxy's: it is not read at all (fasthttp refuses X-Forwarded-For as
	// a trailer, not Forwarded).
	q.got = nil
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 4000}, nil)
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/p.gif?site=demo")
	ctx.Request.Header.SetUserAgent(chromeUA)
	ctx.Request.Header.Add("Forwarded", "for=203.0.113.7")
	if err := ctx.Request.Header.SetTrailer("Forwarded"); err != nil {
		t.Fatal(err)
	}
	ctx.Request.Header.Add("Forwarded", "for=6.6.6.6")
	h.Handle(&ctx)
	if len(q.got) != 1 || q.got[0].Get(event.IP) != "10.0.0.5" {
		t.Errorf("trailer: %+v", q.got)
	}
}

// TestClientBehindProxiesDoesNotAllocate: a hit through a proxy costs no
// allocation either.
func TestClientBehindProxiesDoesNotAllocate(t *testing.T) {
	h := newHandler(discard{})
	withProxies(t, h, "10.0.0.0/8", clientaddr.XForwardedFor)
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 4000}, nil)
	run := func() {
		ctx.Response.Reset()
		ctx.Request.SetRequestURI("/p.gif?site=demo&visitor_id=v1&url=https%3A%2F%2Fshop.example%2F")
		ctx.Request.Header.SetUserAgent(chromeUA)
		ctx.Request.Header.Del("X-Forwarded-For")
		ctx.Request.Header.Add("X-Forwarded-For", "1.1.1.1, [2001:db8::1]:4711")
		ctx.Request.Header.Add("X-Forwarded-For", "10.1.1.1")
		h.Handle(&ctx)
	}
	run()
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Fatalf("a proxied hit allocates %v times", n)
	}
}

// TestAPIAddressAnonymised: the shopper's address the server API gives is
// stored as every other, /24 and /48, or whole with -keep-full-ip; one
// that is no address is refused with its reason.
func TestAPIAddressAnonymised(t *testing.T) {
	q := &queue{}
	h := newHandler(q)
	send := func(ip string) *fasthttp.RequestCtx {
		return do(h, req{method: "POST", uri: "/api/v1/events", auth: "Bearer shop-secret-key",
			body: `[{"type":"purchase","visitor_id":"v","ip":"` + ip + `"},{"type":"pageview","visitor_id":"v"}]`})
	}
	for ip, want := range map[string]string{
		"203.0.113.77": "203.0.113.0", "2001:db8:1234:5678::9": "2001:db8:1234::", "::ffff:198.51.100.200": "198.51.100.0",
		"203.0.113.77:443": "203.0.113.0", "[2001:db8:1234:5678::9]:443": "2001:db8:1234::",
	} {
		q.got = nil
		if c := send(ip); c.Response.StatusCode() != 202 || len(q.got) != 2 || q.got[0].Get(event.IP) != want || q.got[1].Get(event.IP) != "" {
			t.Errorf("ip %s: %d %s %+v, want %s", ip, c.Response.StatusCode(), c.Response.Body(), q.got, want)
		}
	}
	for _, bad := range []string{"shop.example", "203.0.113", "1.2.3.4.5", "unknown"} {
		q.got = nil
		c := send(bad)
		if c.Response.StatusCode() != 400 || len(q.got) != 0 || !strings.Contains(errorOf(t, c), "event 0: ip is not an IPv4 or IPv6 address") {
			t.Errorf("ip %q: %d %s", bad, c.Response.StatusCode(), c.Response.Body())
		}
	}
	h.cfg.KeepFullIP = true
	q.got = nil
	if send("203.0.113.77"); len(q.got) != 2 || q.got[0].Get(event.IP) != "203.0.113.77" {
		t.Errorf("-keep-full-ip: %+v", q.got)
	}
}

// TestAmountBounded: an amount beyond event.MaxAmount either way is
// refused with 400 and the reason on every endpoint; the bound itself is
// taken.
func TestAmountBounded(t *testing.T) {
	q := &queue{}
	h := newHandler(q)
	for _, amount := range []string{"999999999999", "1000000000.01", "-1000000001", "99999999999999999999999"} {
		for name, r := range map[string]req{
			"pixel":  {method: "GET", uri: "/p.gif?site=demo&type=purchase&currency=EUR&revenue=" + amount},
			"beacon": {method: "POST", uri: "/e", body: `{"site":"demo","type":"purchase","currency":"EUR","revenue":"` + amount + `"}`},
			"number": {method: "POST", uri: "/e", body: `{"site":"demo","type":"purchase","currency":"EUR","revenue":` + amount + `}`},
			"api":    {method: "POST", uri: "/api/v1/events", auth: "Bearer shop-secret-key", body: `{"type":"purchase","visitor_id":"v","currency":"EUR","revenue":"` + amount + `"}`},
		} {
			q.got = nil
			c := do(h, r)
			if refusal(c) != 400 || len(q.got) != 0 || !strings.Contains(errorOf(t, c), "revenue is over 1000000000") {
				t.Errorf("%s %s: %d %s", name, amount, c.Response.StatusCode(), c.Response.Body())
			}
		}
	}
	q.got = nil
	if c := do(h, req{method: "POST", uri: "/e", body: `{"site":"demo","type":"purchase","currency":"EUR","revenue":"1000000000"}`}); c.Response.StatusCode() != 202 ||
		len(q.got) != 1 || q.got[0].Revenue != event.MaxAmountMicros {
		t.Errorf("the bound: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
}

// TestListsBounded: a lists prop, which fans out into a consent row per
// name, is refused beyond event.MaxLists names, or with an empty one, on
// every endpoint.
func TestListsBounded(t *testing.T) {
	q := &queue{}
	h := newHandler(q)
	many := strings.Repeat("l,", 2000) + "l"
	for name, r := range map[string]req{
		"pixel":  {method: "GET", uri: "/p.gif?site=demo&type=subscribe&user_id=bob%40example.invalid&p.lists=" + many},
		"beacon": {method: "POST", uri: "/e", body: `{"site":"demo","type":"subscribe","user_id":"bob@example.invalid","props":{"lists":"` + many + `"}}`},
		"api":    {method: "POST", uri: "/api/v1/events", auth: "Bearer shop-secret-key", body: `{"type":"subscribe","user_id":"bob@example.invalid","props":{"lists":"` + many + `"}}`},
		"commas": {method: "POST", uri: "/e", body: `{"site":"demo","type":"unsubscribe","props":{"lists":"` + strings.Repeat(",", 2000) + `"}}`},
	} {
		q.got = nil
		c := do(h, r)
		if refusal(c) != 400 || len(q.got) != 0 || !strings.Contains(errorOf(t, c), "lists") {
			t.Errorf("%s: %d %s", name, c.Response.StatusCode(), c.Response.Body())
		}
	}
	q.got = nil
	ok := strings.TrimSuffix(strings.Repeat("l,", event.MaxLists), ",")
	if c := do(h, req{method: "POST", uri: "/e", body: `{"site":"demo","type":"subscribe","props":{"lists":"` + ok + `"}}`}); c.Response.StatusCode() != 202 || len(q.got) != 1 {
		t.Errorf("%d lists: %d %s", event.MaxLists, c.Response.StatusCode(), c.Response.Body())
	}
}

// counter reads a counter's value.
func counter(c prometheus.Counter) float64 { return testutil.ToFloat64(c) }

// TestRateLimits: over its address's bucket a hit is not queued: the
// pixel and an open still answer their image, a click still redirects,
// the JSON endpoints and the unsubscribe answer 429 with Retry-After;
// the server API has no address limit but shares its site's bucket; each
// refusal is counted by endpoint and reason.
func TestRateLimits(t *testing.T) {
	q := &queue{}
	h, s := emailHandler(t, q)
	h.cfg.AddressLimit = ratelimit.New(1, 3, 100) // one event a second, three at once
	h.cfg.SiteLimit = ratelimit.New(1, 5, 100)
	pixelLimited := counter(rejected[epPixel][rsRateAddress])
	beaconLimited := counter(rejected[epBeacon][rsRateAddress])
	for i := range 3 {
		if c := do(h, req{method: "GET", uri: "/p.gif?site=demo"}); c.Response.StatusCode() != 200 || len(c.Response.Header.Peek("X-Footfall-Dropped")) != 0 {
			t.Fatalf("hit %d within the burst: %d %q", i, c.Response.StatusCode(), c.Response.Header.Peek("X-Footfall-Dropped"))
		}
	}
	c := do(h, req{method: "GET", uri: "/p.gif?site=demo"})
	if c.Response.StatusCode() != 200 || string(c.Response.Body()) != string(GIF) ||
		string(c.Response.Header.Peek("X-Footfall-Dropped")) != "rate-limit" || string(c.Response.Header.Peek("Retry-After")) != "1" {
		t.Errorf("pixel over the limit: %d %q %q", c.Response.StatusCode(), c.Response.Header.Peek("X-Footfall-Dropped"), c.Response.Header.Peek("Retry-After"))
	}
	c = do(h, req{method: "POST", uri: "/e", body: `[{"site":"demo","type":"a"},{"site":"demo","type":"b"}]`})
	if c.Response.StatusCode() != 429 || string(c.Response.Header.Peek("Retry-After")) != "2" || !strings.Contains(errorOf(t, c), "too many events from this address") {
		t.Errorf("beacon over the limit: %d %q %s", c.Response.StatusCode(), c.Response.Header.Peek("Retry-After"), c.Response.Body())
	}
	// An open and a click of a signed token are no address's (an image
	// proxy fetches for many readers): queued. The unsubscribe is.
	if c := do(h, req{method: "GET", uri: "/o/" + tok + ".gif"}); c.Response.StatusCode() != 200 || string(c.Response.Header.ContentType()) != "image/gif" ||
		len(c.Response.Header.Peek("X-Footfall-Dropped")) != 0 {
		t.Errorf("open from the limited address: %d %q", c.Response.StatusCode(), c.Response.Header.Peek("X-Footfall-Dropped"))
	}
	target := "https://shop.example/sale"
	if c := do(h, req{method: "GET", uri: "/c/" + tok + "/1?u=" + target + "&s=" + s.ClickSig("1", target)}); c.Response.StatusCode() != 302 ||
		len(c.Response.Header.Peek("X-Footfall-Dropped")) != 0 {
		t.Errorf("click from the limited address: %d %q", c.Response.StatusCode(), c.Response.Header.Peek("X-Footfall-Dropped"))
	}
	if c := do(h, req{method: "POST", uri: "/u/" + tok + "?s=" + s.UnsubscribeSig(tok)}); c.Response.StatusCode() != 429 || len(c.Response.Header.Peek("Retry-After")) == 0 ||
		!strings.Contains(string(c.Response.Body()), "try again") {
		t.Errorf("unsubscribe over the limit: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	if len(q.got) != 5 {
		t.Errorf("%d events queued, want the burst's 3, the open and the click", len(q.got))
	}
	if counter(rejected[epPixel][rsRateAddress]) != pixelLimited+1 || counter(rejected[epBeacon][rsRateAddress]) != beaconLimited+1 {
		t.Error("refusals not counted")
	}
	// Another address has its own bucket; the site's is shared: 3 of its
	// 5 are taken, so a batch of 3 is refused whole, with that reason.
	if c := do(h, req{method: "POST", uri: "/e", ip: "198.51.100.1", body: `[{"site":"demo","type":"a"},{"site":"demo","type":"b"}]`}); c.Response.StatusCode() != 202 {
		t.Errorf("another address: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	c = do(h, req{method: "POST", uri: "/api/v1/events", auth: "Bearer shop-secret-key", body: `[{"type":"a","visitor_id":"v"},{"site":"shop","type":"b","visitor_id":"v"}]`})
	if c.Response.StatusCode() != 202 {
		t.Errorf("server API, another site: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	c = do(h, req{method: "POST", uri: "/e", ip: "198.51.100.2", body: `[{"site":"demo","type":"a"},{"site":"demo","type":"b"}]`})
	if c.Response.StatusCode() != 429 || !strings.Contains(errorOf(t, c), "too many events for this site") {
		t.Errorf("site over its limit: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	// The server API never meets an address limit, from one address.
	for i := range 5 {
		if c := do(h, req{method: "POST", uri: "/api/v1/events", auth: "Bearer shop-secret-key", body: `{"type":"a","visitor_id":"v"}`}); c.Response.StatusCode() != 202 && i < 3 {
			t.Errorf("server API hit %d: %d %s", i, c.Response.StatusCode(), c.Response.Body())
		}
	}
}

// TestLimitedPixelDoesNotAllocate: with the limits on, a hit within them
// and one over them cost no allocation.
func TestLimitedPixelDoesNotAllocate(t *testing.T) {
	for name, lim := range map[string]*ratelimit.Table{"within": ratelimit.New(1e9, 1e9, 1000), "over": ratelimit.New(1e-9, 100, 1000)} {
		h := newHandler(discard{})
		h.cfg.AddressLimit, h.cfg.SiteLimit = lim, ratelimit.New(1e9, 1e9, 1000)
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP("203.0.113.77"), Port: 4000}, nil)
		run := func() {
			ctx.Response.Reset()
			ctx.Request.SetRequestURI("/p.gif?site=demo&visitor_id=v1&url=https%3A%2F%2Fshop.example%2F")
			ctx.Request.Header.SetUserAgent(chromeUA)
			h.Handle(&ctx)
		}
		for range 200 {
			run()
		}
		if n := testing.AllocsPerRun(1000, run); n != 0 {
			t.Errorf("%s the limit: %v allocations", name, n)
		}
	}
}

// BenchmarkPixelLimited is BenchmarkPixel with what production adds: the
// rate limits on (never reached) and the client taken from a trusted
// proxy's X-Forwarded-For, a client address per goroutine.
func BenchmarkPixelLimited(b *testing.B) {
	h := newHandler(discard{})
	h.cfg.AddressLimit, h.cfg.SiteLimit = ratelimit.New(1e9, 1e9, 100_000), ratelimit.New(1e9, 1e9, 10_000)
	p, _ := clientaddr.ParseTrusted("10.0.0.0/8")
	h.cfg.Proxies = clientaddr.New(p, clientaddr.XForwardedFor)
	uri := "/p.gif?site=demo&visitor_id=0b6f1d2e-4c1a&url=https%3A%2F%2Fshop.example%2Fp%2F42&referrer=https%3A%2F%2Fwww.google.com%2F&title=Blue+shoes&utm_source=news&p.sku=42"
	var n atomic.Int32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		client := fmt.Sprintf("203.0.113.%d", n.Add(1))
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 4000}, nil)
		for pb.Next() {
			ctx.Response.Reset()
			ctx.Request.SetRequestURI(uri)
			ctx.Request.Header.SetUserAgent(chromeUA)
			ctx.Request.Header.Set("X-Forwarded-For", client)
			h.Handle(&ctx)
		}
	})
}
