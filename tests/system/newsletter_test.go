package system

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"footfall/collector/app"
	"footfall/dashboards/api"
	"footfall/internal/campaigns"
	"footfall/internal/links"
	"footfall/internal/profiles"
	"footfall/processor/derive"
	"footfall/processor/imports"
	"footfall/tests/stacktest"
)

// TestNewsletterEndToEnd sends a campaign to five recipients, scripts
// their opens, clicks, visit, order and unsubscribe through the real
// collector, Kafka and processor, and checks the report's exact figures,
// the refusal of tampered links and the consent-filtered export.
func TestNewsletterEndToEnd(t *testing.T) {
	const secret = "newsletter-link-secret"
	s := newStack(t, 2)
	s.startProcessor(t, "-flush-interval", "100ms", "-segments-interval", "0")
	shopKey := s.site(t, "shop")
	_, base := s.startCollector(t, func(c *app.Config) {
		c.LinkSecret = secret
		c.TrustProxy = "127.0.0.1" // the test plays Apple's and Google's proxies, from loopback
	})
	signer, _ := links.NewSigner(secret)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, s.store), s.store, api.Config{Token: "tok", Rules: profiles.DefaultRules, Links: signer, CollectorURL: base}).Register(mux)
	dash := httptest.NewServer(mux)
	defer dash.Close()
	auth := []string{"Authorization", "Bearer tok"}
	call := func(method, path, body string, into any, header ...string) int {
		t.Helper()
		code, resp := send(t, method, dash.URL+path, body, append(auth, header...)...)
		if into != nil {
			if err := json.Unmarshal([]byte(resp), into); err != nil {
				t.Fatalf("%s %s: %d %s", method, path, code, resp)
			}
		}
		return code
	}

	var c campaigns.Campaign
	if code := call("POST", "/api/v1/campaigns", `{"site":"shop","name":"Spring Sale","cost":50}`, &c); code != 201 || c.ID != "spring-sale" {
		t.Fatalf("create campaign: %d %+v", code, c)
	}
	// Line 8 is no address: it is left out and named, the rest imported.
	csv := "email,external_id\na@x.example,1\nb@x.example,2\nc@x.example,3\nd@x.example,4\nE@X.example,5\ne@x.example,5\nnot-an-email,6\nf@x.example,7\n"
	var added struct {
		Added, Sent int
		Rejected    []struct {
			Line          int
			Email, Reason string
		}
	}
	if code := call("POST", "/api/v1/campaigns/spring-sale/recipients?site=shop&consent_wording=nl-v1", csv, &added, "Content-Type", "text/csv"); code != 200 ||
		added.Added != 6 || added.Sent != 6 || len(added.Rejected) != 1 || added.Rejected[0].Line != 8 || added.Rejected[0].Email != "not-an-email" ||
		!strings.Contains(added.Rejected[0].Reason, "not an e-mail address") {
		t.Fatalf("import: %d %+v", code, added)
	}
	// An import is no visit: no visitor, source or realtime visitor; the
	// recipients whose consent it states are subscribers.
	var live struct{ Visitors int }
	var ov struct {
		Visitors int
		Sources  []any `json:"top_sources"`
	}
	var sources struct{ Rows [][]any }
	var fProf struct{ Class string }
	call("GET", "/api/v1/realtime?site=shop", "", &live)
	call("GET", "/api/v1/overview?site=shop", "", &ov)
	call("GET", "/api/v1/breakdown?site=shop&by=source", "", &sources)
	call("GET", "/api/v1/profile?site=shop&email=f@x.example", "", &fProf)
	if live.Visitors != 0 || ov.Visitors != 0 || len(ov.Sources) != 0 || len(sources.Rows) != 0 || fProf.Class != "subscriber" {
		t.Errorf("after the import: realtime %+v, overview %+v, sources %v, f's class %q", live, ov, sources.Rows, fProf.Class)
	}
	var raw []map[string]string
	call("GET", "/api/v1/campaigns/spring-sale/recipients?site=shop", "", &raw)
	tok := map[string]string{}
	unsub := map[string]string{}
	for _, r := range raw {
		tok[r["email"][:1]] = r["token"]
		unsub[r["email"][:1]] = r["unsubscribe_url"]
	}
	if len(tok) != 6 {
		t.Fatalf("recipients %v", raw)
	}

	// The newsletter, rewritten: two links and a pixel; the mailto: link
	// is left as it is, and said so.
	html := "<html><body><a href=\"https://shop.example/sale?a=1&amp;b=2#avis\">Sale</a> <a href=\"https://shop.example/new\">New</a>\n" +
		"<a href=\"mailto:help@shop.example\">Help</a></body></html>"
	code, out := send(t, "POST", dash.URL+"/api/v1/campaigns/spring-sale/rewrite?site=shop", html, auth...)
	clicks := regexp.MustCompile(`href="([^"]+/c/[^"]+)"`).FindAllStringSubmatch(out, -1)
	if code != 200 || len(clicks) != 2 || !strings.Contains(out, `<a href="mailto:help@shop.example">Help</a>`) {
		t.Fatalf("rewrite: %d %s", code, out)
	}
	var rewritten links.Rewritten
	if code := call("POST", "/api/v1/campaigns/spring-sale/rewrite?site=shop&format=json", html, &rewritten); code != 200 || len(rewritten.Links) != 2 ||
		len(rewritten.Untracked) != 1 || rewritten.Untracked[0].Line != 2 || rewritten.Untracked[0].Href != "mailto:help@shop.example" {
		t.Errorf("rewrite as JSON: %d %+v", code, rewritten)
	}
	linkFor := func(who string, n int) string {
		return strings.ReplaceAll(links.Personalize(clicks[n][1], tok[who]), "&amp;", "&")
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	follow := func(u string) (int, string) {
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}

	human := []string{"User-Agent", chrome}
	open := func(who string, header ...string) {
		if code, _ := send(t, "GET", links.OpenURL(base, tok[who]), "", header...); code != 200 {
			t.Fatalf("open %s: %d", who, code)
		}
	}
	open("a", human...)
	open("a", human...)
	open("b", "User-Agent", "Mozilla/5.0", "X-Forwarded-For", "17.58.1.9") // Apple Mail Privacy Protection
	open("c", human...)
	open("d", "User-Agent", "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)") // Gmail: a person reading
	open("x")                                                                                                            // not a token: still an image, nothing counted
	// An invented token of a token's shape: still an image. The link
	// secret did not make it, but an earlier version's tokens were not
	// signed (-legacy-tokens): it is queued as unverified, and the
	// processor, which finds no recipient for it, stores it nowhere
	// (TestLegacyTokensThroughTheStack counts it).
	if code, _ := send(t, "GET", base+"/o/AAAAAAAAAAAAAAAAAAAAAA.gif", ""); code != 200 {
		t.Fatalf("unknown token open: %d", code)
	}

	// a clicks link 1, lands and buys; c clicks link 2 twice; f, whose
	// mail client shows no images, clicks link 2 without an open.
	code, loc := follow(linkFor("a", 0))
	if want := "https://shop.example/sale?a=1&b=2&utm_campaign=spring-sale&utm_medium=email&utm_source=newsletter&ff_rt=" + tok["a"] + "#avis"; code != 302 || loc != want {
		t.Fatalf("click a: %d %s, want %s", code, loc, want)
	}
	follow(linkFor("c", 1))
	follow(linkFor("c", 1))
	follow(linkFor("f", 1))
	tampered := strings.Replace(linkFor("c", 1), "shop.example%2Fnew", "evil.example%2Fnew", 1)
	if code, loc := follow(tampered); code != 400 || loc != "" {
		t.Errorf("tampered link: %d %q", code, loc)
	}
	landing := url.Values{"site": {"shop"}, "visitor_id": {"site-va"}, "session_id": {"sa"}, "url": {loc}}
	if code, _ := send(t, "GET", base+"/p.gif?"+landing.Encode(), "", human...); code != 200 {
		t.Fatal("landing page view")
	}
	// The pipeline must have joined site-va to a before her order counts
	// through her visitor id alone.
	stacktest.WaitCount(t, s.store, 20*time.Second, 1, "SELECT count() FROM identities WHERE visitor_id = 'site-va'")
	order := func(body string) {
		t.Helper()
		if code, resp := send(t, "POST", base+"/api/v1/events", body, "Authorization", "Bearer "+shopKey); code != 202 {
			t.Fatalf("order: %d %s", code, resp)
		}
	}
	order(`{"type":"purchase","visitor_id":"site-va","order_id":"o1","revenue":"100","currency":"EUR"}`)
	order(`{"type":"purchase","user_id":"e@x.example","order_id":"o2","revenue":"40","currency":"EUR"}`) // e never clicked
	// d's link fetched by a scanner (GET) or a link checker (HEAD)
	// withdraws nothing; she unsubscribes with the one-click POST (RFC
	// 8058, what her mail client or the page's button sends); a forged
	// link is refused.
	for _, method := range []string{"GET", "HEAD"} {
		if code, page := send(t, method, unsub["d"], ""); code != 200 || strings.Contains(page, "You are unsubscribed") {
			t.Fatalf("%s of d's unsubscribe link: %d %s", method, code, page)
		}
	}
	if code, page := send(t, "POST", unsub["d"], "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded"); code != 200 ||
		!strings.Contains(page, "You are unsubscribed") {
		t.Fatalf("unsubscribe d: %d %s", code, page)
	}
	if code, _ := send(t, "POST", strings.Replace(unsub["d"], tok["d"], tok["e"], 1), ""); code != 400 {
		t.Errorf("unsubscribe with another's signature: %d", code)
	}
	// 5 opens, 4 clicks, 1 unsubscribe; 1 landing page view; 2 orders.
	stacktest.WaitCount(t, s.store, 20*time.Second, 10, "SELECT count() FROM events WHERE ingest = 'email' AND type IN ('email_open', 'email_click', 'unsubscribe')")
	stacktest.WaitCount(t, s.store, 20*time.Second, 2, "SELECT count() FROM events WHERE type = 'purchase'")
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events_rejected"); n != 0 {
		t.Errorf("%d events rejected: the invented token's open was kept", n)
	}

	var rep campaigns.Report
	if code := call("GET", "/api/v1/campaigns/spring-sale/report?site=shop", "", &rep); code != 200 {
		t.Fatalf("report: %d", code)
	}
	if rep.Sent != 6 || rep.Opened != 5 || rep.OpenedHuman != 4 || rep.OpenedOnlyBy != 1 || rep.Clicked != 3 || rep.Clicks != 4 ||
		rep.ClickToOpen != 0.6 || rep.Unsubscribed != 1 || rep.Sessions != 1 || rep.Orders != 1 || rep.Revenue != 100 ||
		rep.ROI == nil || *rep.ROI != 1 {
		t.Errorf("report %+v", rep)
	}
	perLink := map[string]campaigns.LinkClicks{}
	for _, l := range rep.Links {
		perLink[l.Link] = l
	}
	sale, nw := perLink[rewritten.Links[0].ID], perLink[rewritten.Links[1].ID]
	if len(rep.Links) != 2 || sale.Clicks != 1 || !strings.HasPrefix(sale.URL, "https://shop.example/sale?") ||
		nw.Clicks != 3 || nw.Clicked != 2 || !strings.HasPrefix(nw.URL, "https://shop.example/new?") {
		t.Errorf("links %+v, want %+v", rep.Links, rewritten.Links)
	}
	var cmp []campaigns.Report
	if code := call("GET", "/api/v1/campaigns-compare?site=shop&ids=spring-sale", "", &cmp); code != 200 || len(cmp) != 1 || cmp[0].Clicks != 4 {
		t.Errorf("compare: %d %+v", code, cmp)
	}

	// Re-qualification: who opened, as a segment; its export for the
	// newsletter leaves out d, who unsubscribed. Segments read the people
	// table as the processor's refresh job last left it: a round first.
	if err := derive.New(profiles.NewStore(s.store.DB(), profiles.DefaultRules), derive.Config{}).Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	var seg api.SegmentInfo
	body := `{"site":"shop","name":"Opened spring","conditions":[{"field":"event","value":"email_open","campaign":"spring-sale"}]}`
	if code := call("POST", "/api/v1/segments", body, &seg); code != 201 || seg.Members != 5 {
		t.Fatalf("segment: %d %+v", code, seg)
	}
	code, csvOut := send(t, "GET", dash.URL+"/api/v1/segments/"+seg.ID+"/export.csv?site=shop&consent=newsletter", "", auth...)
	var emails []string
	for _, line := range strings.Split(strings.TrimSpace(csvOut), "\n")[1:] {
		emails = append(emails, strings.Split(line, ",")[0])
	}
	if code != 200 || strings.Join(emails, " ") != "a@x.example b@x.example c@x.example f@x.example" {
		t.Errorf("export: %d %v\n%s", code, emails, csvOut)
	}
	body = `{"site":"shop","name":"Never opens","conditions":[{"field":"not_opened_last_campaigns","value":1}]}`
	if code := call("POST", "/api/v1/segments", body, &seg); code != 200 && code != 201 || seg.Members != 1 {
		t.Errorf("not opened: %d %+v", code, seg)
	}
	code, csvOut = send(t, "GET", dash.URL+"/api/v1/segments/"+seg.ID+"/export.csv?site=shop", "", auth...)
	if !strings.Contains(csvOut, "\ne@x.example,") {
		t.Errorf("not opened export:\n%s", csvOut)
	}
	// The ledger proves who agreed to what and when: every import consent,
	// then d's withdrawal through the link, last.
	code, ledger := send(t, "GET", dash.URL+"/api/v1/consents/export.csv?site=shop&purpose=newsletter", "", auth...)
	lines := strings.Split(strings.TrimSpace(ledger), "\n")
	if code != 200 || len(lines) != 8 || !strings.Contains(lines[1], ",newsletter,yes,import,nl-v1,") ||
		!strings.Contains(lines[7], "d@x.example,u:d@x.example,newsletter,no,email-link,") {
		t.Errorf("ledger %d:\n%s", code, ledger)
	}
	// The ledger proves both: the import's consent, then d's withdrawal.
	var prof api.Profile
	call("GET", "/api/v1/profile?site=shop&email=d@x.example", "", &prof)
	if len(prof.Consents) != 1 || prof.Consents[0].Granted || prof.Consents[0].Source != "email-link" || prof.Class != "visitor" {
		t.Errorf("d: consents %+v class %s", prof.Consents, prof.Class)
	}
	call("GET", "/api/v1/profile?site=shop&email=a@x.example", "", &prof)
	if prof.Class != "customer" || prof.Orders != 1 || prof.Devices != 2 {
		t.Errorf("a: %+v", prof.Person)
	}
}

// TestNewsletterImportAndLinksAsToolsWriteThem: through the dashboards API,
// the collector, Kafka, the processor and ClickHouse: a recipients CSV as
// Excel writes it in France (";", a byte order mark, CRLF) with two quotes
// left open and an address that is not UTF-8 imports every other row and
// names those three with their lines; a JSON import's address that is not
// UTF-8 is refused, not stored. Two versions of the mail, rewritten one
// after the other, give a link the same id in both, a new link a new id,
// and the report counts each link's clicks under its own URL; a
// fragment with a "#" in it reaches the reader as linked; merge fields of
// mail tools are left untracked, each named with its line.
func TestNewsletterImportAndLinksAsToolsWriteThem(t *testing.T) {
	const secret = "newsletter-link-secret"
	s := newStack(t, 1)
	s.startProcessor(t, "-flush-interval", "100ms", "-segments-interval", "0")
	s.site(t, "shop")
	_, base := s.startCollector(t, func(c *app.Config) { c.LinkSecret = secret })
	signer, _ := links.NewSigner(secret)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, s.store), s.store, api.Config{Token: "tok", Rules: profiles.DefaultRules, Links: signer, CollectorURL: base}).Register(mux)
	dash := httptest.NewServer(mux)
	defer dash.Close()
	auth := []string{"Authorization", "Bearer tok"}
	call := func(method, path, body string, into any, header ...string) int {
		t.Helper()
		code, resp := send(t, method, dash.URL+path, body, append(auth, header...)...)
		if into != nil {
			if err := json.Unmarshal([]byte(resp), into); err != nil {
				t.Fatalf("%s %s: %d %s", method, path, code, resp)
			}
		}
		return code
	}
	if code := call("POST", "/api/v1/campaigns", `{"site":"shop","name":"Autumn"}`, nil); code != 201 {
		t.Fatalf("create campaign: %d", code)
	}

	csv := "\ufeffNom;E-mail;external_id\r\n" +
		"Ann;ann@x.example;1\r\n" +
		"\"Bob;bob@x.example;2\r\n" + // line 3: a quote left open, closed by nothing that CSV reads
		"Cy;cy@x.example;3\r\n" +
		"Dee; DEE@X.Example ;4\r\n" +
		"Eve;eve\xff@x.example;5\r\n" + // line 6: not UTF-8 (Windows-1252, say)
		"Fay;\"fay@x.example\";6\r\n" +
		"Gus;gus@x.example;\"7\r\n" + // line 8: a quote left open to the end
		"Hal;hal@x.example;8\r\n"
	var imported struct {
		Added, Sent int
		Rejected    []imports.Rejected
	}
	if code := call("POST", "/api/v1/campaigns/autumn/recipients?site=shop", csv, &imported, "Content-Type", "text/csv; charset=utf-8"); code != 200 {
		t.Fatalf("import: %d %+v", code, imported)
	}
	var lines []string
	for _, r := range imported.Rejected {
		lines = append(lines, fmt.Sprint(r.Line))
	}
	if imported.Added != 5 || imported.Sent != 5 || strings.Join(lines, " ") != "3 6 8" ||
		!strings.Contains(imported.Rejected[0].Reason, "quote") || !strings.Contains(imported.Rejected[1].Reason, "not UTF-8") {
		t.Errorf("import: %+v, want 5 added and lines 3, 6 and 8 rejected", imported)
	}
	body := "{\"recipients\":[{\"email\":\"ivy\xff@x.example\"},{\"email\":\"Jo@X.example\",\"external_id\":\"10\"}]}"
	if code := call("POST", "/api/v1/campaigns/autumn/recipients?site=shop", body, &imported); code != 200 || imported.Added != 1 ||
		len(imported.Rejected) != 1 || imported.Rejected[0].Line != 1 || !strings.Contains(imported.Rejected[0].Reason, "not UTF-8") {
		t.Errorf("JSON import: %d %+v", code, imported)
	}
	var stored []campaigns.Recipient
	call("GET", "/api/v1/campaigns/autumn/recipients?site=shop", "", &stored)
	var got []string
	tok := map[string]string{}
	for _, r := range stored {
		got = append(got, r.Email+"/"+r.ExternalID)
		tok[strings.Split(r.Email, "@")[0]] = r.Token
	}
	if strings.Join(got, " ") != "ann@x.example/1 cy@x.example/3 dee@x.example/4 fay@x.example/6 hal@x.example/8 jo@x.example/10" {
		t.Errorf("recipients in ClickHouse: %v", got)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM recipients WHERE campaign_id = 'autumn' AND (position(email, '\\xFF') > 0 OR position(email, '\xef\xbf\xbd') > 0)"); n != 0 {
		t.Errorf("%d addresses with bytes that are not UTF-8 stored", n)
	}

	rewrite := func(html string) links.Rewritten {
		t.Helper()
		var res links.Rewritten
		if code := call("POST", "/api/v1/campaigns/autumn/rewrite?site=shop&format=json", html, &res); code != 200 {
			t.Fatalf("rewrite: %d", code)
		}
		return res
	}
	v1 := rewrite("<body>\n<a href=\"https://shop.example/p#a#b\">p</a>\n<a href=\"https://shop.example/q\">q</a>\n" +
		"<a href=\"{contactfield=email}\">m</a>\n<a href=\"%UNSUBSCRIBELINK%\">u</a>\n<a href=\"[unsubscribe]\">u</a>\n" +
		"<a href=\"https://shop.example/me?e=[email]\">u</a>\n<a href=\"{{ unsubscribe_link }}\">u</a>\n<a href=\"{% unsubscribe %}\">u</a>\n</body>")
	v2 := rewrite("<body>\n<a href=\"https://shop.example/r\">r</a>\n<a href=\"https://shop.example/q\">q</a>\n<a href=\"https://shop.example/p#a#b\">p</a>\n</body>")
	if len(v1.Links) != 2 || len(v2.Links) != 3 || len(v1.Untracked) != 6 {
		t.Fatalf("rewrites: %+v %+v", v1, v2)
	}
	for i, u := range v1.Untracked {
		if u.Line != i+4 || !strings.HasPrefix(u.Reason, "merge field of a mail tool") {
			t.Errorf("untracked %+v, want a merge field on line %d", u, i+4)
		}
	}
	p, q, r := v1.Links[0], v1.Links[1], v2.Links[0]
	if v2.Links[1].ID != q.ID || v2.Links[2].ID != p.ID || r.ID == p.ID || r.ID == q.ID || p.ID == q.ID {
		t.Errorf("link ids: v1 %+v, v2 %+v", v1.Links, v2.Links)
	}
	if p.Target != "https://shop.example/p?utm_campaign=autumn&utm_medium=email&utm_source=newsletter#a#b" {
		t.Errorf("target %s", p.Target)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	click := func(who string, l links.Link) string {
		t.Helper()
		u := base + "/c/" + tok[who] + "/" + l.ID + "?u=" + url.QueryEscape(l.Target) + "&s=" + signer.ClickSig(l.ID, l.Target)
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 302 {
			t.Fatalf("click %s on %s: %d", who, l.Target, resp.StatusCode)
		}
		return resp.Header.Get("Location")
	}
	if loc := click("ann", p); loc != "https://shop.example/p?utm_campaign=autumn&utm_medium=email&utm_source=newsletter&ff_rt="+tok["ann"]+"#a#b" {
		t.Errorf("ann lands on %s", loc)
	}
	click("fay", q)
	click("dee", v2.Links[1])
	click("cy", r)
	stacktest.WaitCount(t, s.store, 20*time.Second, 4, "SELECT count() FROM events WHERE ingest = 'email' AND type = 'email_click' AND utm_campaign = 'autumn'")
	var rep campaigns.Report
	if code := call("GET", "/api/v1/campaigns/autumn/report?site=shop", "", &rep); code != 200 {
		t.Fatalf("report: %d", code)
	}
	want := map[string]string{p.ID: p.Target + " 1 1", q.ID: q.Target + " 2 2", r.ID: r.Target + " 1 1"}
	for _, l := range rep.Links {
		if w := want[l.Link]; w != fmt.Sprintf("%s %d %d", l.URL, l.Clicks, l.Clicked) {
			t.Errorf("link %s: %s %d clicks by %d, want %s", l.Link, l.URL, l.Clicks, l.Clicked, w)
		}
	}
	if len(rep.Links) != 3 || rep.Clicks != 4 {
		t.Errorf("report links %+v", rep.Links)
	}

	// A link tagged for another campaign and source brings the campaign's
	// visits all the same: its tags are replaced, and the answer says so.
	v3 := rewrite("<body>\n<a href=\"https://shop.example/s?utm_campaign=other&amp;utm_source=partner&amp;utm_term=boots\">s</a>\n</body>")
	if len(v3.Links) != 1 || v3.Links[0].Target != "https://shop.example/s?utm_term=boots&utm_campaign=autumn&utm_medium=email&utm_source=newsletter" {
		t.Fatalf("retagged link: %+v", v3.Links)
	}
	if len(v3.Retagged) != 2 || v3.Retagged[0] != (links.Retagged{Line: 2, Href: "https://shop.example/s?utm_campaign=other&utm_source=partner&utm_term=boots", Tag: "utm_campaign", Old: "other", New: "autumn"}) ||
		v3.Retagged[1].Tag != "utm_source" || v3.Retagged[1].Old != "partner" || v3.Retagged[1].New != "newsletter" {
		t.Errorf("retagged %+v", v3.Retagged)
	}
	if loc := click("hal", v3.Links[0]); !strings.HasPrefix(loc, "https://shop.example/s?utm_term=boots&utm_campaign=autumn&utm_medium=email&utm_source=newsletter&ff_rt=") {
		t.Errorf("hal lands on %s", loc)
	}
	stacktest.WaitCount(t, s.store, 20*time.Second, 5, "SELECT count() FROM events WHERE ingest = 'email' AND type = 'email_click' AND utm_campaign = 'autumn'")
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events WHERE utm_campaign = 'other' OR utm_source = 'partner'"); n != 0 {
		t.Errorf("%d events under the link's own tags", n)
	}
}
