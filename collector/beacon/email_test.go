package beacon

import (
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"footfall/collector/ratelimit"
	"footfall/internal/event"
	"footfall/internal/links"
)

func emailHandler(t *testing.T, q Queue) (*Handler, *links.Signer) {
	t.Helper()
	signer, err := links.NewSigner("0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	h := newHandler(q)
	h.cfg.Links = signer
	return h, signer
}

// tok is a recipient token the handlers' link secret made.
var tok = func() string {
	s, _ := links.NewSigner("0123456789abcdef")
	return s.NewToken()
}()

func TestOpenPixel(t *testing.T) {
	q := &queue{}
	h, _ := emailHandler(t, q)
	// Apple's privacy proxy looks like a bot to a browser check; an open is
	// kept anyway, with what tells machine opens apart.
	ctx := do(h, req{method: "GET", uri: "/o/" + tok + ".gif", ua: "Mozilla/5.0", ip: "17.58.1.9"})
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.ContentType()) != "image/gif" || len(q.got) != 1 {
		t.Fatalf("open: %d %s, %d events", ctx.Response.StatusCode(), ctx.Response.Header.ContentType(), len(q.got))
	}
	e := q.got[0]
	if e.Get(event.Type) != "email_open" || e.Ingest != event.IngestEmail || e.Get(event.Site) != "" || e.Get(event.VisitorID) != "" ||
		len(e.Props) != 1 || string(e.Props[0].Value) != tok || e.Get(event.IP) != "17.58.1.0" || e.Get(event.UserAgent) != "Mozilla/5.0" {
		t.Errorf("open event %+v", e)
	}
	// Not a token, or an invented one of a token's shape (random, or
	// made with another secret): the image, nothing queued, counted.
	otherSigner, _ := links.NewSigner("another-secret-0123")
	unverified := counter(rejected[epOpen][rsUnverifiedToken])
	for _, bad := range []string{"/o/short.gif", "/o/" + tok + "x.gif", "/o/{{ff_token}}.gif", "/o/AbCdEfGhIjKlMnOpQrStUv.gif", "/o/" + links.NewToken() + ".gif",
		"/o/" + otherSigner.NewToken() + ".gif"} {
		ctx := do(h, req{method: "GET", uri: bad})
		if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.ContentType()) != "image/gif" || string(ctx.Response.Header.Peek("X-Footfall-Dropped")) != "bad-token" {
			t.Errorf("%s: %d %q", bad, ctx.Response.StatusCode(), ctx.Response.Header.Peek("X-Footfall-Dropped"))
		}
	}
	if len(q.got) != 1 {
		t.Errorf("%d events after bad tokens", len(q.got))
	}
	if n := counter(rejected[epOpen][rsUnverifiedToken]) - unverified; n != 3 {
		t.Errorf("%v invented tokens counted, want 3", n)
	}
}

func TestClickRedirectsOnlySignedTargets(t *testing.T) {
	q := &queue{}
	h, s := emailHandler(t, q)
	target := "https://shop.example/sale?utm_campaign=spring&utm_source=newsletter"
	link := "/c/" + tok + "/3?u=" + url.QueryEscape(target) + "&s=" + s.ClickSig("3", target)
	ctx := do(h, req{method: "GET", uri: link})
	if ctx.Response.StatusCode() != 302 || string(ctx.Response.Header.Peek("Location")) != target+"&ff_rt="+tok {
		t.Fatalf("click: %d %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek("Location"))
	}
	// The token goes in the query, before the fragment, which stays whole.
	for target, want := range map[string]string{
		"https://shop.example/p?a=1&b=2&utm_source=newsletter#avis": "https://shop.example/p?a=1&b=2&utm_source=newsletter&ff_rt=" + tok + "#avis",
		"https://shop.example/p#/route?x=1":                         "https://shop.example/p?ff_rt=" + tok + "#/route?x=1",
	} {
		ctx := do(h, req{method: "GET", uri: "/c/" + tok + "/1?u=" + url.QueryEscape(target) + "&s=" + s.ClickSig("1", target)})
		if ctx.Response.StatusCode() != 302 || string(ctx.Response.Header.Peek("Location")) != want {
			t.Errorf("click to %s: %d %q, want %s", target, ctx.Response.StatusCode(), ctx.Response.Header.Peek("Location"), want)
		}
	}
	q.got = q.got[:1]
	if len(q.got) != 1 || q.got[0].Get(event.Type) != "email_click" || q.got[0].Get(event.URL) != target ||
		string(q.got[0].Props[0].Value) != tok || string(q.got[0].Props[1].Value) != "3" {
		t.Errorf("click events %+v", q.got)
	}
	tampered := []string{
		strings.Replace(link, "shop.example", "evil.example", 1), // another target
		strings.Replace(link, "/3?", "/4?", 1),                   // another link
		link[:strings.Index(link, "&s=")],                        // no signature
		"/c/" + tok + "/1?u=" + url.QueryEscape("javascript:alert(1)") + "&s=" + s.ClickSig("1", "javascript:alert(1)"), // signed, not http
		"/c/" + tok,
	}
	for _, bad := range tampered {
		ctx := do(h, req{method: "GET", uri: bad})
		if ctx.Response.StatusCode() != 400 || len(ctx.Response.Header.Peek("Location")) != 0 || !strings.Contains(string(ctx.Response.Body()), "not valid") {
			t.Errorf("%s: %d, Location %q", bad, ctx.Response.StatusCode(), ctx.Response.Header.Peek("Location"))
		}
	}
	// A token the e-mail tool did not fill in, or an invented one: the
	// reader still gets there, without a recipient to join.
	for _, other := range []string{"{{ff_token}}", links.NewToken()} {
		unmerged := "/c/" + other + "/3?u=" + url.QueryEscape(target) + "&s=" + s.ClickSig("3", target)
		ctx = do(h, req{method: "GET", uri: unmerged})
		if ctx.Response.StatusCode() != 302 || string(ctx.Response.Header.Peek("Location")) != target {
			t.Errorf("token %s: %d %q", other, ctx.Response.StatusCode(), ctx.Response.Header.Peek("Location"))
		}
	}
	if len(q.got) != 1 {
		t.Errorf("%d events, want only the good click", len(q.got))
	}
}

func TestUnsubscribe(t *testing.T) {
	q := &queue{}
	h, s := emailHandler(t, q)
	link := "/u/" + tok + "?s=" + s.UnsubscribeSig(tok)
	// A GET (the reader's click, a scanner's fetch) and a HEAD (a link
	// checker) withdraw nothing: the GET shows a button that posts.
	for _, method := range []string{"GET", "HEAD"} {
		ctx := do(h, req{method: method, uri: link})
		if ctx.Response.StatusCode() != 200 || strings.Contains(string(ctx.Response.Body()), "You are unsubscribed") {
			t.Errorf("%s: %d %s", method, ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	page := string(do(h, req{method: "GET", uri: link}).Response.Body())
	if !strings.Contains(page, `<form method=post action="?s=`+s.UnsubscribeSig(tok)+`">`) || !strings.Contains(page, `name=List-Unsubscribe value=One-Click`) ||
		!strings.Contains(page, "<button") || !strings.Contains(page, `lang="en"`) {
		t.Errorf("GET page: %s", page)
	}
	if len(q.got) != 0 {
		t.Fatalf("GET and HEAD queued %+v", q.got)
	}
	// The one-click POST (RFC 8058) and the page's button withdraw.
	ctx := do(h, req{method: "POST", uri: link, body: "List-Unsubscribe=One-Click"})
	if ctx.Response.StatusCode() != 200 || !strings.Contains(string(ctx.Response.Body()), "You are unsubscribed") {
		t.Errorf("POST: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if len(q.got) != 1 || q.got[0].Get(event.Type) != "unsubscribe" || string(q.got[0].Props[0].Value) != tok {
		t.Fatalf("events %+v", q.got)
	}
	if ctx := do(h, req{method: "PUT", uri: link}); ctx.Response.StatusCode() != 405 || string(ctx.Response.Header.Peek("Allow")) != "GET, HEAD, POST" || len(q.got) != 1 {
		t.Errorf("PUT: %d %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek("Allow"))
	}
	other := "BbCdEfGhIjKlMnOpQrStUv"
	for _, bad := range []string{"/u/" + other + "?s=" + s.UnsubscribeSig(tok), "/u/" + tok, "/u/x?s=" + s.UnsubscribeSig("x")} {
		for _, method := range []string{"GET", "POST"} {
			if ctx := do(h, req{method: method, uri: bad}); ctx.Response.StatusCode() != 400 || strings.Contains(string(ctx.Response.Body()), "<form") {
				t.Errorf("%s %s: %d", method, bad, ctx.Response.StatusCode())
			}
		}
	}
	if len(q.got) != 1 {
		t.Errorf("bad links queued %+v", q.got)
	}
	q.full = true
	if ctx := do(h, req{method: "POST", uri: link}); ctx.Response.StatusCode() != 503 || strings.Contains(string(ctx.Response.Body()), "You are unsubscribed") {
		t.Errorf("queue full: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	h.cfg.Links = nil
	if ctx := do(h, req{method: "GET", uri: link}); ctx.Response.StatusCode() != 404 {
		t.Errorf("no link secret: %d", ctx.Response.StatusCode())
	}
}

// TestUnsubscribePagesInTheReadersLanguage: the page and the answers are
// in French for a French reader, in English for any other.
func TestUnsubscribePagesInTheReadersLanguage(t *testing.T) {
	q := &queue{}
	h, s := emailHandler(t, q)
	link := "/u/" + tok + "?s=" + s.UnsubscribeSig(tok)
	send := func(method, uri, accept string) *fasthttp.RequestCtx {
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, nil, nil)
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI(uri)
		ctx.Request.Header.Set("Accept-Language", accept)
		h.Handle(&ctx)
		return &ctx
	}
	for accept, want := range map[string]string{
		"fr-FR,fr;q=0.9,en;q=0.8": "Me désabonner", "fr-CA": "Me désabonner", "de-DE,fr;q=0.5": "Me désabonner",
		"en-GB,en;q=0.9": ">Unsubscribe</button>", "de-DE": ">Unsubscribe</button>", "": ">Unsubscribe</button>", "%%garbage": ">Unsubscribe</button>",
	} {
		c := send("GET", link, accept)
		if body := string(c.Response.Body()); c.Response.StatusCode() != 200 || !strings.Contains(body, want) || string(c.Response.Header.Peek("Vary")) != "Accept-Language" {
			t.Errorf("Accept-Language %q: %d %s", accept, c.Response.StatusCode(), body)
		}
	}
	if c := send("POST", link, "fr"); !strings.Contains(string(c.Response.Body()), "Vous êtes désabonné") || string(c.Response.Header.Peek("Content-Language")) != "fr" {
		t.Errorf("POST in French: %s", c.Response.Body())
	}
	if c := send("GET", "/u/"+tok+"?s=x", "fr"); c.Response.StatusCode() != 400 || !strings.Contains(string(c.Response.Body()), "Ce lien n’est pas valide") {
		t.Errorf("bad link in French: %s", c.Response.Body())
	}
	if len(q.got) != 1 {
		t.Errorf("%d events, want the POST's", len(q.got))
	}
}

// propOf is e's prop named key, and whether it has one.
func propOf(e event.Event, key string) (string, bool) {
	for _, p := range e.Props {
		if string(p.Key) == key {
			return string(p.Value), true
		}
	}
	return "", false
}

// TestLegacyTokens: with LegacyTokens, an open or click whose token has a
// token's shape but is not the link secret's (an earlier version's,
// random, or an invented one: the collector cannot tell) is queued marked
// unverified, for the processor to check against its recipients; a
// signed token's is not marked; an unsubscribe, signed per token, never
// is. Without LegacyTokens it is refused and counted; without a link
// secret every token is unverified.
func TestLegacyTokens(t *testing.T) {
	q := &queue{}
	h, s := emailHandler(t, q)
	h.cfg.LegacyTokens = true
	legacy := links.NewToken()
	target := "https://shop.example/sale"
	click := func(tk string) *fasthttp.RequestCtx {
		return do(h, req{method: "GET", uri: "/c/" + tk + "/3?u=" + url.QueryEscape(target) + "&s=" + s.ClickSig("3", target)})
	}
	for _, tk := range []string{legacy, "AbCdEfGhIjKlMnOpQrStUv", tok} {
		q.got = nil
		c := do(h, req{method: "GET", uri: "/o/" + tk + ".gif"})
		if c.Response.StatusCode() != 200 || string(c.Response.Header.ContentType()) != "image/gif" || len(c.Response.Header.Peek("X-Footfall-Dropped")) != 0 || len(q.got) != 1 {
			t.Fatalf("open of %s: %d %q, %d events", tk, c.Response.StatusCode(), c.Response.Header.Peek("X-Footfall-Dropped"), len(q.got))
		}
		v, marked := propOf(q.got[0], links.UnverifiedProp)
		if tkn, _ := propOf(q.got[0], "token"); tkn != tk || marked != (tk != tok) || marked && v != "1" {
			t.Errorf("open of %s: props %q", tk, q.got[0].Props)
		}
		q.got = nil
		c = click(tk)
		if c.Response.StatusCode() != 302 || string(c.Response.Header.Peek("Location")) != target+"?ff_rt="+tk || len(q.got) != 1 {
			t.Fatalf("click of %s: %d %q, %d events", tk, c.Response.StatusCode(), c.Response.Header.Peek("Location"), len(q.got))
		}
		_, marked = propOf(q.got[0], links.UnverifiedProp)
		if link, _ := propOf(q.got[0], "link"); link != "3" || marked != (tk != tok) || q.got[0].Get(event.Type) != "email_click" {
			t.Errorf("click of %s: %+v", tk, q.got[0])
		}
	}
	q.got = nil
	if c := do(h, req{method: "POST", uri: "/u/" + legacy + "?s=" + s.UnsubscribeSig(legacy)}); c.Response.StatusCode() != 200 || len(q.got) != 1 {
		t.Fatalf("unsubscribe of a legacy token: %d, %d events", c.Response.StatusCode(), len(q.got))
	}
	if _, marked := propOf(q.got[0], links.UnverifiedProp); marked {
		t.Errorf("an unsubscribe, signed, marked unverified: %q", q.got[0].Props)
	}
	// Not a token's shape: refused as ever.
	q.got = nil
	if c := do(h, req{method: "GET", uri: "/o/{{ff_token}}.gif"}); string(c.Response.Header.Peek("X-Footfall-Dropped")) != "bad-token" || len(q.got) != 0 {
		t.Errorf("a merge field: %q, %d events", c.Response.Header.Peek("X-Footfall-Dropped"), len(q.got))
	}

	// -legacy-tokens=false: refused at the collector, counted.
	h.cfg.LegacyTokens = false
	before := counter(rejected[epOpen][rsUnverifiedToken]) + counter(rejected[epClick][rsUnverifiedToken])
	if c := do(h, req{method: "GET", uri: "/o/" + legacy + ".gif"}); string(c.Response.Header.Peek("X-Footfall-Dropped")) != "bad-token" {
		t.Errorf("legacy open refused: %q", c.Response.Header.Peek("X-Footfall-Dropped"))
	}
	if c := click(legacy); c.Response.StatusCode() != 302 || string(c.Response.Header.Peek("Location")) != target {
		t.Errorf("legacy click refused: %d %q", c.Response.StatusCode(), c.Response.Header.Peek("Location"))
	}
	if len(q.got) != 0 || counter(rejected[epOpen][rsUnverifiedToken])+counter(rejected[epClick][rsUnverifiedToken])-before != 2 {
		t.Errorf("refused legacy tokens: %d events queued, %v counted", len(q.got), counter(rejected[epOpen][rsUnverifiedToken])+counter(rejected[epClick][rsUnverifiedToken])-before)
	}
	// No link secret: nothing can be verified, every open is unverified.
	h.cfg.Links = nil
	if do(h, req{method: "GET", uri: "/o/" + tok + ".gif"}); len(q.got) != 1 {
		t.Fatalf("open without a link secret: %d events", len(q.got))
	}
	if _, marked := propOf(q.got[0], links.UnverifiedProp); !marked {
		t.Errorf("an open without a link secret not marked: %q", q.got[0].Props)
	}
}

// TestOpensNotLimitedByAddress: opens and clicks from one address (an
// image proxy's) are not held by its bucket but by the site table's:
// one bucket for signed tokens, one for the others, so that invented
// tokens never use up the signed ones'. The beacon and the unsubscribe
// from that address are held by it.
func TestOpensNotLimitedByAddress(t *testing.T) {
	q := &queue{}
	h, s := emailHandler(t, q)
	h.cfg.LegacyTokens = true
	h.cfg.AddressLimit = ratelimit.New(1e-9, 3, 100)
	h.cfg.SiteLimit = ratelimit.New(1e-9, 5, 100)
	signer, _ := links.NewSigner("0123456789abcdef")
	overSite := counter(rejected[epOpen][rsRateSite])
	for i := range 6 {
		c := do(h, req{method: "GET", uri: "/o/" + links.NewToken() + ".gif", ua: "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"})
		if dropped := string(c.Response.Header.Peek("X-Footfall-Dropped")); i < 5 && dropped != "" || i == 5 && dropped != "rate-limit" {
			t.Errorf("unverified open %d: %q", i, dropped)
		}
	}
	for i := range 6 {
		tk := signer.NewToken()
		if i == 4 {
			target := "https://shop.example/"
			c := do(h, req{method: "GET", uri: "/c/" + tk + "/1?u=" + target + "&s=" + s.ClickSig("1", target)})
			if c.Response.StatusCode() != 302 || len(c.Response.Header.Peek("X-Footfall-Dropped")) != 0 {
				t.Errorf("click: %d %q", c.Response.StatusCode(), c.Response.Header.Peek("X-Footfall-Dropped"))
			}
			continue
		}
		c := do(h, req{method: "GET", uri: "/o/" + tk + ".gif"})
		if dropped := string(c.Response.Header.Peek("X-Footfall-Dropped")); i < 5 && dropped != "" || i == 5 && (dropped != "rate-limit" || len(c.Response.Header.Peek("Retry-After")) == 0) {
			t.Errorf("signed open %d: %q", i, dropped)
		}
	}
	if len(q.got) != 10 || counter(rejected[epOpen][rsRateSite])-overSite != 2 {
		t.Errorf("%d events queued, want 10; %v over the site buckets, want 2", len(q.got), counter(rejected[epOpen][rsRateSite])-overSite)
	}
	for i := range 4 {
		c := do(h, req{method: "POST", uri: "/e", body: `{"site":"demo","type":"a"}`})
		if i < 3 && c.Response.StatusCode() != 202 || i == 3 && c.Response.StatusCode() != 429 {
			t.Errorf("beacon %d: %d", i, c.Response.StatusCode())
		}
	}
	if c := do(h, req{method: "POST", uri: "/u/" + tok + "?s=" + s.UnsubscribeSig(tok)}); c.Response.StatusCode() != 429 {
		t.Errorf("unsubscribe over the address's limit: %d", c.Response.StatusCode())
	}
}

// TestOpenDoesNotAllocate: an open, of a signed or an unverified token,
// with the limits on, costs no allocation.
func TestOpenDoesNotAllocate(t *testing.T) {
	h, _ := emailHandler(t, nil)
	h.q = discard{}
	h.cfg.LegacyTokens = true
	h.cfg.AddressLimit, h.cfg.SiteLimit = ratelimit.New(1e9, 1e9, 1000), ratelimit.New(1e9, 1e9, 1000)
	for _, tk := range []string{tok, links.NewToken()} {
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP("66.102.8.1"), Port: 4000}, nil)
		uri := "/o/" + tk + ".gif"
		run := func() {
			ctx.Response.Reset()
			ctx.Request.SetRequestURI(uri)
			ctx.Request.Header.SetUserAgent("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)")
			h.Handle(&ctx)
		}
		for range 100 {
			run()
		}
		if len(ctx.Response.Header.Peek("X-Footfall-Dropped")) != 0 {
			t.Fatalf("open of %s dropped: %q", tk, ctx.Response.Header.Peek("X-Footfall-Dropped"))
		}
		if n := testing.AllocsPerRun(1000, run); n != 0 {
			t.Errorf("open of %s: %v allocations", tk, n)
		}
	}
}

// BenchmarkOpen: the open pixel of a signed and of an unverified token,
// the limits on, from one image proxy's address.
func BenchmarkOpen(b *testing.B) {
	signer, _ := links.NewSigner("0123456789abcdef")
	for name, tk := range map[string]string{"signed": signer.NewToken(), "legacy": links.NewToken()} {
		b.Run(name, func(b *testing.B) {
			h := newHandler(discard{})
			h.cfg.Links, h.cfg.LegacyTokens = signer, true
			h.cfg.AddressLimit, h.cfg.SiteLimit = ratelimit.New(100, 1000, 100_000), ratelimit.New(1e9, 1e9, 10_000)
			uri := "/o/" + tk + ".gif"
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var ctx fasthttp.RequestCtx
				ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP("66.102.8.1"), Port: 4000}, nil)
				for pb.Next() {
					ctx.Response.Reset()
					ctx.Request.SetRequestURI(uri)
					ctx.Request.Header.SetUserAgent("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)")
					h.Handle(&ctx)
					if len(ctx.Response.Header.Peek("X-Footfall-Dropped")) != 0 {
						b.Fatal("open dropped")
					}
				}
			})
		})
	}
}
