package beacon

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"footfall/internal/sites"
)

// restrictedHandler's site "paris" takes hits from shop.example (and
// below) only; "open" lists shop.example too but takes any page.
func restrictedHandler(q Queue) *Handler {
	reg := sites.NewStatic(
		sites.Site{ID: "paris", TimeZone: "Europe/Paris", Currency: "EUR", Domains: []string{"shop.example"}},
		sites.Site{ID: "open", TimeZone: "UTC", Currency: "EUR", Domains: []string{"open.example"}, AcceptForeignDomains: true},
	)
	return New(Config{Sites: reg, CookielessSecret: []byte("salt"), MaxBatchEvents: 3}, q, nil)
}

// withOrigin is do with an Origin header.
func withOrigin(h *Handler, r req, origin string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP("203.0.113.77"), Port: 4000}, nil)
	ctx.Request.Header.SetMethod(r.method)
	ctx.Request.SetRequestURI(r.uri)
	ctx.Request.Header.SetUserAgent(chromeUA)
	if origin != "" {
		ctx.Request.Header.Set("Origin", origin)
	}
	ctx.Request.SetBodyString(r.body)
	h.Handle(&ctx)
	return &ctx
}

// TestUnknownSiteRefused: a hit for a site the registry does not hold is
// queued nowhere: the pixel answers its image with the reason in a
// header, the beacon 400 with the reason, each counted.
func TestUnknownSiteRefused(t *testing.T) {
	q := &queue{}
	h := newHandler(q)
	pixBefore, beaconBefore := counter(rejected[epPixel][rsUnknownSite]), counter(rejected[epBeacon][rsUnknownSite])
	c := do(h, req{method: "GET", uri: "/p.gif?site=nosuchsite&url=https%3A%2F%2Fshop.example%2F"})
	if c.Response.StatusCode() != 200 || !bytes.Equal(c.Response.Body(), GIF) ||
		string(c.Response.Header.Peek("X-Footfall-Rejected")) != "unknown_site" {
		t.Errorf("pixel: %d %q %q", c.Response.StatusCode(), c.Response.Body(), c.Response.Header.Peek("X-Footfall-Rejected"))
	}
	c = do(h, req{method: "POST", uri: "/e", body: `[{"site":"demo","type":"pageview"},{"site":"nosuchsite","type":"pageview"}]`})
	if c.Response.StatusCode() != 400 || !strings.Contains(string(c.Response.Body()), "event 1: unknown site") {
		t.Errorf("beacon: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	if len(q.got) != 0 {
		t.Errorf("%d events queued", len(q.got))
	}
	if counter(rejected[epPixel][rsUnknownSite]) != pixBefore+1 || counter(rejected[epBeacon][rsUnknownSite]) != beaconBefore+1 {
		t.Error("rejections not counted under unknown_site")
	}
	// A known site goes through.
	if c := do(h, req{method: "GET", uri: "/p.gif?site=demo"}); c.Response.StatusCode() != 200 || len(q.got) != 1 ||
		len(c.Response.Header.Peek("X-Footfall-Rejected")) != 0 {
		t.Errorf("known site: %d, %d queued", c.Response.StatusCode(), len(q.got))
	}
}

// TestForeignDomainRefused: a site that lists its domains takes a
// browser's hit from a page or an Origin on them or below them, and
// refuses one from elsewhere; a site that accepts foreign domains takes
// both; the server API, which has no page, is not checked.
func TestForeignDomainRefused(t *testing.T) {
	q := &queue{}
	h := restrictedHandler(q)
	before := counter(rejected[epPixel][rsForeignDomain]) + counter(rejected[epBeacon][rsForeignDomain])
	for _, c := range []struct {
		r      req
		origin string
		keep   bool
	}{
		{req{method: "GET", uri: "/p.gif?site=paris&url=https%3A%2F%2Fshop.example%2Fp"}, "", true},
		{req{method: "GET", uri: "/p.gif?site=paris&url=https%3A%2F%2Fwww.SHOP.example%3A8443%2Fp"}, "", true},
		{req{method: "GET", uri: "/p.gif?site=paris"}, "", true}, // no page: an e-mail's pixel
		{req{method: "GET", uri: "/p.gif?site=paris&url=https%3A%2F%2Fevil.example%2Fp"}, "", false},
		{req{method: "GET", uri: "/p.gif?site=paris&url=https%3A%2F%2Fevilshop.example%2Fp"}, "", false},
		{req{method: "GET", uri: "/p.gif?site=paris&url=https%3A%2F%2Fshop.example.evil.example%2Fp"}, "", false},
		{req{method: "POST", uri: "/e", body: `{"site":"paris","type":"pageview","url":"https://shop.example/p"}`}, "https://shop.example", true},
		{req{method: "POST", uri: "/e", body: `{"site":"paris","type":"pageview","url":"https://shop.example/p"}`}, "https://evil.example", false},
		{req{method: "POST", uri: "/e", body: `{"site":"paris","type":"pageview","url":"https://evil.example/p"}`}, "https://shop.example", false},
		{req{method: "POST", uri: "/e", body: `{"site":"paris","type":"pageview","url":"https://shop.example/p"}`}, "null", false},
		{req{method: "POST", uri: "/e", body: `{"site":"open","type":"pageview","url":"https://evil.example/p"}`}, "https://evil.example", true},
	} {
		n := len(q.got)
		ctx := withOrigin(h, c.r, c.origin)
		kept := len(q.got) == n+1
		if kept != c.keep {
			t.Errorf("%s %s %s (Origin %q): kept %v, want %v: %d %s", c.r.method, c.r.uri, c.r.body, c.origin, kept, c.keep,
				ctx.Response.StatusCode(), ctx.Response.Body())
			continue
		}
		if c.keep {
			continue
		}
		if c.r.method == "GET" {
			if ctx.Response.StatusCode() != 200 || !bytes.Equal(ctx.Response.Body(), GIF) || string(ctx.Response.Header.Peek("X-Footfall-Rejected")) != "foreign_domain" {
				t.Errorf("%s: %d %q", c.r.uri, ctx.Response.StatusCode(), ctx.Response.Header.Peek("X-Footfall-Rejected"))
			}
		} else if ctx.Response.StatusCode() != 400 || !strings.Contains(string(ctx.Response.Body()), "foreign domain") {
			t.Errorf("%s: %d %s", c.r.body, ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	if got := counter(rejected[epPixel][rsForeignDomain]) + counter(rejected[epBeacon][rsForeignDomain]); got != before+6 {
		t.Errorf("foreign_domain counted %v times, want 6", got-before)
	}
}

// TestCORSNamesTheSitesDomains: the beacon's answers name the request's
// origin when its site lists it (with Vary: Origin), * for a site that
// takes any page, nothing for an origin no site lists.
func TestCORSNamesTheSitesDomains(t *testing.T) {
	h := restrictedHandler(&queue{})
	only := New(Config{Sites: sites.NewStatic(sites.Site{ID: "paris", TimeZone: "UTC", Currency: "EUR", Domains: []string{"shop.example"}})}, &queue{}, nil)
	for _, c := range []struct {
		h      *Handler
		r      req
		origin string
		want   string
	}{
		{only, req{method: "OPTIONS", uri: "/e"}, "https://www.shop.example", "https://www.shop.example"},
		{only, req{method: "OPTIONS", uri: "/e"}, "https://evil.example", ""},
		{h, req{method: "OPTIONS", uri: "/e"}, "https://evil.example", "*"}, // "open" takes any page
		{h, req{method: "POST", uri: "/e", body: `{"site":"paris","type":"pageview","url":"https://shop.example/p"}`}, "https://shop.example", "https://shop.example"},
		{h, req{method: "POST", uri: "/e", body: `{"site":"paris","type":"pageview","url":"https://shop.example/p"}`}, "https://evil.example", ""},
		{h, req{method: "POST", uri: "/e", body: `{"site":"open","type":"pageview"}`}, "https://evil.example", "*"},
	} {
		ctx := withOrigin(c.h, c.r, c.origin)
		got := string(ctx.Response.Header.Peek("Access-Control-Allow-Origin"))
		if got != c.want {
			t.Errorf("%s %s from %s: Access-Control-Allow-Origin %q, want %q", c.r.method, c.r.body, c.origin, got, c.want)
		}
		if c.want != "*" && string(ctx.Response.Header.Peek("Vary")) != "Origin" {
			t.Errorf("%s %s from %s: no Vary: Origin", c.r.method, c.r.body, c.origin)
		}
	}
}

// TestRestrictedSiteHitDoesNotAllocate: the registry's look-up and the
// domain check cost a hit no allocation.
func TestRestrictedSiteHitDoesNotAllocate(t *testing.T) {
	h := restrictedHandler(discard{})
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP("203.0.113.77"), Port: 4000}, nil)
	body := []byte(`{"site":"paris","type":"pageview","visitor_id":"v1","url":"https://www.shop.example/p/42"}`)
	run := func() {
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/e")
		ctx.Request.Header.SetUserAgent(chromeUA)
		ctx.Request.Header.Set("Origin", "https://www.shop.example")
		ctx.Request.SetBodyRaw(body)
		h.Handle(&ctx)
	}
	run()
	if ctx.Response.StatusCode() != 202 {
		t.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Fatalf("a restricted site's hit allocates %v times", n)
	}
}
