package system

import (
	"context"
	"encoding/json"
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
	_, base := s.startCollector(t, func(c *app.Config) {
		c.LinkSecret = secret
		c.TrustProxy = true // the test plays Apple's and Google's proxies
		c.SiteKeys = "shop=shop-secret-key"
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
		if code, resp := send(t, "POST", base+"/api/v1/events", body, "Authorization", "Bearer shop-secret-key"); code != 202 {
			t.Fatalf("order: %d %s", code, resp)
		}
	}
	order(`{"type":"purchase","visitor_id":"site-va","order_id":"o1","revenue":"100","currency":"EUR"}`)
	order(`{"type":"purchase","user_id":"e@x.example","order_id":"o2","revenue":"40","currency":"EUR"}`) // e never clicked
	// d unsubscribes through her signed link; a forged one is refused.
	if code, _ := send(t, "GET", unsub["d"], ""); code != 200 {
		t.Fatalf("unsubscribe d: %d", code)
	}
	if code, _ := send(t, "GET", strings.Replace(unsub["d"], tok["d"], tok["e"], 1), ""); code != 400 {
		t.Errorf("unsubscribe with another's signature: %d", code)
	}
	stacktest.WaitCount(t, s.store, 20*time.Second, 1, "SELECT count() FROM events_rejected WHERE error = 'unknown recipient token'")
	// 5 opens, 4 clicks, 1 unsubscribe; 1 landing page view; 2 orders.
	stacktest.WaitCount(t, s.store, 20*time.Second, 10, "SELECT count() FROM events WHERE ingest = 'email' AND type IN ('email_open', 'email_click', 'unsubscribe')")
	stacktest.WaitCount(t, s.store, 20*time.Second, 2, "SELECT count() FROM events WHERE type = 'purchase'")

	var rep campaigns.Report
	if code := call("GET", "/api/v1/campaigns/spring-sale/report?site=shop", "", &rep); code != 200 {
		t.Fatalf("report: %d", code)
	}
	if rep.Sent != 6 || rep.Opened != 5 || rep.OpenedHuman != 4 || rep.OpenedOnlyBy != 1 || rep.Clicked != 3 || rep.Clicks != 4 ||
		rep.ClickToOpen != 0.6 || rep.Unsubscribed != 1 || rep.Sessions != 1 || rep.Orders != 1 || rep.Revenue != 100 ||
		rep.ROI == nil || *rep.ROI != 1 {
		t.Errorf("report %+v", rep)
	}
	if len(rep.Links) != 2 || rep.Links[0].Link != "1" || rep.Links[0].Clicks != 1 || rep.Links[1].Clicks != 3 || rep.Links[1].Clicked != 2 ||
		!strings.HasPrefix(rep.Links[1].URL, "https://shop.example/new?") {
		t.Errorf("links %+v", rep.Links)
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
