package system

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"footfall/collector/app"
	"footfall/dashboards/api"
	"footfall/internal/links"
	"footfall/internal/profiles"
	"footfall/processor/derive"
	"footfall/processor/imports"
	"footfall/tests/stacktest"
)

// TestTrustLevels (issue #21, items 1 and 3): through the collector,
// Kafka, the processor, ClickHouse and the dashboards API. What a browser
// says about people is a claim: the pixel unsubscribing bob and
// its POST /e subscribing carol with the wording of the sender's choice
// are recorded as claims, change no one's consent and join no one; a
// browser claiming a customer's address neither joins nor writes to her
// profile, and one using her server-side visitor id is refused. The
// server API, an import and a signed unsubscribe link are proven; an
// import after bob unsubscribed does not subscribe him again, and his
// browser saying so does not either; only a proven consent (a double
// opt-in the shop's backend confirms) brings him back.
func TestTrustLevels(t *testing.T) {
	const secret = "trust-link-secret"
	s := newStack(t, 2)
	s.startProcessor(t, "-flush-interval", "100ms", "-segments-interval", "0")
	sKey := s.site(t, "S")
	_, base := s.startCollector(t, func(c *app.Config) {
		c.LinkSecret = secret
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
	server := func(body string) {
		t.Helper()
		if code, resp := send(t, "POST", base+"/api/v1/events", body, "Authorization", "Bearer "+sKey); code != 202 {
			t.Fatalf("server API %s: %d %s", body, code, resp)
		}
	}
	browser := func(body string) {
		t.Helper()
		if code, resp := send(t, "POST", base+"/e", body, "Content-Type", "text/plain"); code != 202 {
			t.Fatalf("POST /e %s: %d %s", body, code, resp)
		}
	}
	events := 0
	landed := func(n int) {
		t.Helper()
		events += n
		stacktest.WaitCount(t, s.store, 30*time.Second, uint64(events), "SELECT count() FROM events WHERE ingest != 'email'")
		if err := derive.New(profiles.NewStore(s.store.DB(), profiles.DefaultRules), derive.Config{}).Round(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var seg api.SegmentInfo
	if code := call("POST", "/api/v1/segments", `{"site":"S","name":"Everyone","conditions":[{"field":"sessions","op":">=","value":0}]}`, &seg); code != 201 {
		t.Fatalf("segment: %d %+v", code, seg)
	}
	// mailable is the newsletter export: the addresses it gives an e-mail tool.
	mailable := func() []string {
		t.Helper()
		code, out := send(t, "GET", dash.URL+"/api/v1/segments/"+seg.ID+"/export.csv?site=S&consent=newsletter", "", auth...)
		if code != 200 {
			t.Fatalf("export: %d %s", code, out)
		}
		var emails []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			emails = append(emails, strings.Split(line, ",")[0])
		}
		return emails
	}
	// ledger is the consent ledger's lines for a user id: each with how
	// it was proven.
	ledger := func(user string) []string {
		t.Helper()
		code, out := send(t, "GET", dash.URL+"/api/v1/consents/export.csv?site=S&purpose=newsletter", "", auth...)
		if code != 200 {
			t.Fatalf("ledger: %d %s", code, out)
		}
		var lines []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			if strings.HasSuffix(line, ","+user) {
				lines = append(lines, line)
			}
		}
		return lines
	}

	// The newsletter's list: bob and eve, consenting (an import: proven).
	if code := call("POST", "/api/v1/campaigns", `{"site":"S","name":"Spring"}`, nil); code != 201 {
		t.Fatal("create campaign")
	}
	var imported struct{ Added int }
	if code := call("POST", "/api/v1/campaigns/spring/recipients?site=S&consent_wording=nl-v1", "email\nbob@example.invalid\neve@example.invalid\n", &imported,
		"Content-Type", "text/csv"); code != 200 || imported.Added != 2 {
		t.Fatalf("import: %d %+v", code, imported)
	}
	// Eve is a customer: her order and her phone, as the shop's backend
	// says. Dan subscribes at checkout, as the shop's backend says.
	server(`{"type":"purchase","user_id":"eve@example.invalid","order_id":"E-1","revenue":"50","currency":"EUR"}`)
	server(`{"type":"identify","visitor_id":"eve-phone","user_id":"eve@example.invalid"}`)
	server(`{"type":"subscribe","user_id":"dan@example.invalid","props":{"lists":"newsletter","wording":"checkout box v3"}}`)
	// The forgeries, from a browser.
	px := url.Values{"site": {"S"}, "type": {"unsubscribe"}, "user_id": {"bob@example.invalid"}}
	if code, _ := send(t, "GET", base+"/p.gif?"+px.Encode(), ""); code != 200 {
		t.Fatal("pixel")
	}
	browser(`{"site":"S","type":"subscribe","user_id":"carol@example.invalid","props":{"source":"import","wording":"I agree"}}`)
	// Mallory's browser says it is eve, and buys a lot as her.
	browser(`{"site":"S","type":"identify","visitor_id":"mallory","user_id":"eve@example.invalid"}`)
	browser(`{"site":"S","type":"purchase","visitor_id":"mallory","user_id":"eve@example.invalid","order_id":"M-1","revenue":"900","currency":"EUR"}`)
	// A browser may not take eve's server-side visitor id.
	if code, resp := send(t, "POST", base+"/e", `{"site":"S","type":"purchase","visitor_id":"u:eve@example.invalid","order_id":"M-2","revenue":"900","currency":"EUR"}`); code != 400 ||
		!strings.Contains(resp, "visitor_id") {
		t.Errorf("a browser's u: visitor id: %d %s, want 400", code, resp)
	}
	landed(7)

	if got := mailable(); !slices.Equal(got, []string{"bob@example.invalid", "dan@example.invalid", "eve@example.invalid"}) {
		t.Errorf("newsletter export after the forgeries: %v, want bob, dan and eve (a browser neither unsubscribes bob nor subscribes carol)", got)
	}
	// (The import and the pixel fall in one second: the ledger orders
	// them by visitor id then.)
	bob := ledger("bob@example.invalid")
	if len(bob) != 2 || !hasLine(bob, "Z,bob@example.invalid,u:bob@example.invalid,newsletter,yes,import,nl-v1,,server,") ||
		!hasLine(bob, ",newsletter,no,pixel,,", ",claim,bob@example.invalid") || hasLine(bob, "Z,bob@example.invalid,", ",claim,") {
		t.Errorf("bob's ledger: the import (server), and the pixel's claim, on its own visitor id:\n%s", strings.Join(bob, "\n"))
	}
	carol := ledger("carol@example.invalid")
	if len(carol) != 1 || !strings.Contains(carol[0], ",newsletter,yes,import,I agree,") || !strings.HasSuffix(carol[0], ",claim,carol@example.invalid") ||
		strings.Contains(carol[0], "Z,carol@example.invalid,") {
		t.Errorf("carol's ledger: one claim, kept with what it said, on its visitor id:\n%s", strings.Join(carol, "\n"))
	}
	if dan := ledger("dan@example.invalid"); len(dan) != 1 || !strings.Contains(dan[0], ",newsletter,yes,api,checkout box v3,,server,") {
		t.Errorf("dan's ledger: the server API's subscription, proven:\n%s", strings.Join(dan, "\n"))
	}
	if code := call("GET", "/api/v1/profile?site=S&email=carol@example.invalid", "", nil); code != 404 {
		t.Errorf("carol, of a browser's claim alone: %d, want no such person", code)
	}
	var eve api.Profile
	if code := call("GET", "/api/v1/profile?site=S&email=eve@example.invalid", "", &eve); code != 200 || eve.Orders != 1 || eve.Revenue != 50 ||
		!slices.Equal(eve.Visitors, []string{"eve-phone", "u:eve@example.invalid"}) || eve.Class != "customer" {
		t.Errorf("eve: %d %+v visitors %v, want her one order on her two devices, not mallory's", code, eve.Person, eve.Visitors)
	}
	var mallory api.Profile
	if code := call("GET", "/api/v1/profile?site=S&visitor_id=mallory", "", &mallory); code != 200 || mallory.Key != "mallory" || mallory.UserID != "" ||
		len(mallory.Claims) != 1 || mallory.Claims[0].UserID != "eve@example.invalid" || mallory.Orders != 1 {
		t.Errorf("mallory: %d key %q user %q claims %+v orders %d, want an anonymous visitor claiming eve", code, mallory.Key, mallory.UserID, mallory.Claims, mallory.Orders)
	}

	var raw []map[string]string
	call("GET", "/api/v1/campaigns/spring/recipients?site=S", "", &raw)
	unsub, eveToken := "", ""
	for _, r := range raw {
		switch r["email"] {
		case "bob@example.invalid":
			unsub = r["unsubscribe_url"]
		case "eve@example.invalid":
			eveToken = r["token"]
		}
	}
	// Eve lands on her laptop through her newsletter's link (its ff_rt
	// token is hers): proven by the link, the laptop joins her. The page
	// then sends an unsubscribe: the token proves who, not what the page
	// says, so it stays a claim and she stays subscribed.
	landing := "https://shop.example/sale?utm_campaign=spring&ff_rt=" + eveToken
	lv := url.Values{"site": {"S"}, "visitor_id": {"eve-laptop"}, "session_id": {"el1"}, "url": {landing}}
	if code, _ := send(t, "GET", base+"/p.gif?"+lv.Encode(), ""); code != 200 {
		t.Fatal("eve's landing")
	}
	browser(`{"site":"S","type":"unsubscribe","visitor_id":"eve-laptop","session_id":"el1","url":"` + landing + `","props":{"lists":"newsletter"}}`)
	landed(2)
	if code := call("GET", "/api/v1/profile?site=S&email=eve@example.invalid", "", &eve); code != 200 || !slices.Contains(eve.Visitors, "eve-laptop") {
		t.Errorf("eve after her landing: visitors %v, want her laptop joined by her link", eve.Visitors)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM consents WHERE visitor_id = 'eve-laptop' AND user_id = 'eve@example.invalid' AND granted = 0 AND proof = 'claim'"); n != 1 {
		t.Errorf("the page's unsubscribe on eve's laptop: %d claims, want 1", n)
	}
	if got := mailable(); !slices.Contains(got, "eve@example.invalid") {
		t.Errorf("newsletter export after a page's unsubscribe on eve's laptop: %v, want eve still in", got)
	}

	// Bob unsubscribes with his signed link (one-click POST): proven.
	if code, page := send(t, "POST", unsub, "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded"); code != 200 ||
		!strings.Contains(page, "unsubscribed") {
		t.Fatalf("bob's unsubscribe link: %d %s", code, page)
	}
	stacktest.WaitCount(t, s.store, 30*time.Second, 1, "SELECT count() FROM consents WHERE proof = 'link' AND granted = 0")
	landed(0)
	if got := mailable(); !slices.Equal(got, []string{"dan@example.invalid", "eve@example.invalid"}) {
		t.Errorf("newsletter export after bob's unsubscribe link: %v, want dan and eve", got)
	}
	if bob := ledger("bob@example.invalid"); len(bob) != 3 || !hasLine(bob, "Z,bob@example.invalid,u:bob@example.invalid,newsletter,no,email-link,", ",link,bob@example.invalid") {
		t.Errorf("bob's ledger holds his link's withdrawal, proven by the link:\n%s", strings.Join(bob, "\n"))
	}

	// Issue #21, item 3: the same address imported into a new campaign,
	// consent stated. Bob is added as a recipient (the operator's record
	// of a send) but not subscribed again, and the answer says so.
	if code := call("POST", "/api/v1/campaigns", `{"site":"S","name":"Summer"}`, nil); code != 201 {
		t.Fatal("create campaign")
	}
	var again struct {
		Added         int
		NotSubscribed []imports.Rejected `json:"not_subscribed"`
	}
	if code := call("POST", "/api/v1/campaigns/summer/recipients?site=S&consent_wording=nl-v2", "email\nbob@example.invalid\nfrank@example.invalid\n", &again,
		"Content-Type", "text/csv"); code != 200 || again.Added != 2 || len(again.NotSubscribed) != 1 || again.NotSubscribed[0].Email != "bob@example.invalid" ||
		again.NotSubscribed[0].Line != 2 || !strings.Contains(again.NotSubscribed[0].Reason, "unsubscribed from newsletter") {
		t.Fatalf("import after bob's unsubscribe: %d %+v", code, again)
	}
	// And his browser saying he subscribes is a claim.
	browser(`{"site":"S","type":"subscribe","user_id":"bob@example.invalid","props":{"lists":"newsletter"}}`)
	landed(1)
	if got := mailable(); !slices.Equal(got, []string{"dan@example.invalid", "eve@example.invalid", "frank@example.invalid"}) {
		t.Errorf("newsletter export after the second import: %v, want dan, eve and frank, not bob", got)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM consents WHERE user_id = 'bob@example.invalid' AND granted = 1 AND proof != 'claim'"); n != 1 {
		t.Errorf("bob has %d proven yes in the ledger, want the first import's only", n)
	}

	// Double opt-in: bob confirms the mail the shop sent him; the shop's
	// backend says so. A proven consent: he is back.
	server(`{"type":"confirm","user_id":"bob@example.invalid","props":{"lists":"newsletter","wording":"double opt-in of 2026-11-30"}}`)
	landed(1)
	if got := mailable(); !slices.Equal(got, []string{"bob@example.invalid", "dan@example.invalid", "eve@example.invalid", "frank@example.invalid"}) {
		t.Errorf("newsletter export after bob confirmed: %v, want bob back", got)
	}
	var bobProfile api.Profile
	call("GET", "/api/v1/profile?site=S&email=bob@example.invalid", "", &bobProfile)
	if len(bobProfile.Consents) != 1 || !bobProfile.Consents[0].Granted || bobProfile.Consents[0].Proof != "confirmed" {
		t.Errorf("bob's consents %+v, want newsletter granted, confirmed", bobProfile.Consents)
	}
}

// hasLine says whether one of lines holds every one of parts.
func hasLine(lines []string, parts ...string) bool {
	return slices.ContainsFunc(lines, func(l string) bool {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				return false
			}
		}
		return true
	})
}
