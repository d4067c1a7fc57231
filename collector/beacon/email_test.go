package beacon

import (
	"net/url"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

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
