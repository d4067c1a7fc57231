package beacon

import (
	"net/url"
	"testing"

	"footfall/internal/sites"
)

// TestUnicodeDomains: a site's domain given in Unicode (café.fr) or in
// punycode (xn--bcher-kva.example) takes hits from pages and Origins on
// either spelling, in any case, with a trailing dot, percent-escaped, or
// in another Unicode form (an e and a combining accent); hosts that only
// look alike are refused. Both sides go through IDNA's lookup rules
// (golang.org/x/net/idna); compared as bytes, café.fr refused every hit
// its browsers sent (they send xn--caf-dma.fr) and bücher took none
// written in Unicode.
func TestUnicodeDomains(t *testing.T) {
	q := &queue{}
	reg := sites.NewStatic(
		validSite(t, sites.Site{ID: "cafe", TimeZone: "Europe/Paris", Currency: "EUR", InactiveDays: 90, Domains: []string{"café.fr"}}),
		validSite(t, sites.Site{ID: "books", TimeZone: "Europe/Berlin", Currency: "EUR", InactiveDays: 90, Domains: []string{"XN--BCHER-KVA.example."}}),
	)
	h := New(Config{Sites: reg, CookielessSecret: []byte("salt"), MaxBatchEvents: 3}, q, nil)
	for _, c := range []struct {
		site, page, origin string
		keep               bool
	}{
		{"cafe", "https://café.fr/p", "", true},
		{"cafe", "https://xn--caf-dma.fr/p", "", true},
		{"cafe", "https://XN--CAF-DMA.FR./p", "", true},
		{"cafe", "https://CAFÉ.FR./p", "", true},
		{"cafe", "https://www.café.fr:8443/p", "", true},
		{"cafe", "https://caf%C3%A9.fr/p", "", true},
		{"cafe", "https://cafe\u0301.fr/p", "", true}, // NFD
		{"cafe", "https://café.fr/p", "https://xn--caf-dma.fr", true},
		{"cafe", "https://xn--caf-dma.fr/p", "https://www.café.fr", true},
		{"cafe", "https://cafe.fr/p", "", false},
		{"cafe", "https://café.fr.evil.example/p", "", false},
		{"cafe", "https://xn--caf-dma.fr/p", "https://cafe.fr", false},
		{"cafe", "https://évilcafé.fr/p", "", false},
		{"books", "https://bücher.example/p", "", true},
		{"books", "https://BÜCHER.example./p", "", true},
		{"books", "https://shop.xn--bcher-kva.example/p", "https://shop.bücher.example", true},
		{"books", "https://bucher.example/p", "", false},
	} {
		for _, method := range []string{"GET", "POST"} {
			r := req{method: "GET", uri: "/p.gif?site=" + c.site + "&url=" + url.QueryEscape(c.page)}
			if method == "POST" {
				r = req{method: "POST", uri: "/e", body: `{"site":"` + c.site + `","type":"pageview","url":"` + c.page + `"}`}
			}
			n := len(q.got)
			ctx := withOrigin(h, r, c.origin)
			if kept := len(q.got) == n+1; kept != c.keep {
				t.Errorf("%s %s page %s Origin %q: kept %v, want %v (%d %s %s)", method, c.site, c.page, c.origin, kept, c.keep,
					ctx.Response.StatusCode(), ctx.Response.Header.Peek("X-Footfall-Rejected"), ctx.Response.Body())
			}
		}
	}
	// A preflight from the Unicode domain's origin, as browsers send it
	// (punycode), is answered with that origin.
	ctx := withOrigin(h, req{method: "OPTIONS", uri: "/e"}, "https://xn--caf-dma.fr")
	if got := string(ctx.Response.Header.Peek("Access-Control-Allow-Origin")); got != "https://xn--caf-dma.fr" {
		t.Errorf("preflight from xn--caf-dma.fr: Access-Control-Allow-Origin %q", got)
	}
}

// validSite is s as the registry stores it: validated, so its domains
// are in their one spelling.
func validSite(t *testing.T, s sites.Site) sites.Site {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}
