package system

// Issue #21's inputs against the collector, through the real collector,
// Kafka, processor and ClickHouse (and the dashboards API where a figure
// is read): each gets the safe answer.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"footfall/collector/app"
	"footfall/collector/beacon"
	"footfall/dashboards/api"
	"footfall/internal/campaigns"
	"footfall/internal/event"
	"footfall/internal/links"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// request sends one request with headers given as name, value pairs; a
// name given twice is sent as two header lines.
func request(t *testing.T, method, url, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", chrome)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// rows reads a query's rows as text, each its columns joined by spaces.
func rows(t *testing.T, s *stack, query string) []string {
	t.Helper()
	rs, err := s.store.DB().Driver().Query(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var a, b string
		if err := rs.Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
		out = append(out, a+" "+b)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestClientAddressesThroughTheStack (issue #21, 6 and 7): behind a
// trusted proxy the stored address is the right-most one the proxy did
// not write itself, in X-Forwarded-For (every line, ports, brackets) or
// Forwarded, anonymised; a client's own left-most entries change neither
// its address nor its cookieless visitor; a collector that trusts no
// proxy believes no header; the server API's shopper address is stored
// anonymised too.
func TestClientAddressesThroughTheStack(t *testing.T) {
	s := newStack(t, 1)
	s.site(t, "ip")
	s.site(t, "ip-cookieless")
	demoKey := s.site(t, "demo")
	_, xff := s.startCollector(t, func(c *app.Config) { c.TrustProxy = "127.0.0.1" }) // the test is the proxy, on loopback
	_, fwd := s.startCollector(t, func(c *app.Config) { c.TrustProxy = "127.0.0.0/8"; c.TrustProxyHeader = "Forwarded" })
	_, none := s.startCollector(t, nil)
	s.startProcessor(t, "-flush-interval", "100ms")

	pixel := func(base, visitor string, header ...string) {
		t.Helper()
		if code, h, body := request(t, "GET", base+"/p.gif?site=ip&visitor_id="+visitor, "", header...); code != 200 || h.Get("X-Footfall-Dropped") != "" {
			t.Fatalf("%s: %d %s", visitor, code, body)
		}
	}
	pixel(xff, "spoofed", "X-Forwarded-For", "6.6.6.6, 203.0.113.77")
	pixel(xff, "two-lines", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "198.51.100.23")
	pixel(xff, "v6-port", "X-Forwarded-For", "[2001:db8:abcd:12::1]:4711")
	pixel(xff, "v4-port", "X-Forwarded-For", "6.6.6.6, 198.51.100.23:4711")
	pixel(fwd, "forwarded", "Forwarded", `for=6.6.6.6, for="[2001:db8:abcd:12::1]:4711";proto=https`)
	pixel(fwd, "forwarded-ignores-xff", "X-Forwarded-For", "6.6.6.6")
	pixel(none, "untrusted", "X-Forwarded-For", "203.0.113.77")
	// A client choosing its left-most entry per request: one cookieless
	// visitor.
	for _, claim := range []string{"1.1.1.1", "2.2.2.2", "3.3.3.3, 4.4.4.4"} {
		if code, _, body := request(t, "GET", xff+"/p.gif?site=ip-cookieless", "", "X-Forwarded-For", claim+", 203.0.113.77"); code != 200 {
			t.Fatalf("cookieless: %d %s", code, body)
		}
	}
	for ip, visitor := range map[string]string{"203.0.113.77": "api-v4", "2001:db8:abcd:12::1": "api-v6"} {
		body := `{"type":"purchase","order_id":"` + visitor + `","revenue":"10","currency":"EUR","visitor_id":"` + visitor + `","ip":"` + ip + `"}`
		if code, _, resp := request(t, "POST", xff+"/api/v1/events", body, "Authorization", "Bearer "+demoKey); code != 202 {
			t.Fatalf("api %s: %d %s", ip, code, resp)
		}
	}
	if code, _, resp := request(t, "POST", xff+"/api/v1/events", `{"type":"purchase","visitor_id":"v","ip":"shop.example"}`, "Authorization", "Bearer "+demoKey); code != 400 ||
		!strings.Contains(resp, "ip is not an IPv4 or IPv6 address") {
		t.Errorf("api with a name for an address: %d %s", code, resp)
	}

	stacktest.WaitCount(t, s.store, 20*time.Second, 12, "SELECT count() FROM events WHERE site_id IN ('ip', 'demo', 'ip-cookieless')")
	got := strings.Join(rows(t, s, "SELECT visitor_id, ip FROM events WHERE site_id IN ('ip', 'demo') ORDER BY visitor_id"), "\n")
	want := strings.Join([]string{
		"api-v4 203.0.113.0", "api-v6 2001:db8:abcd::", "forwarded 2001:db8:abcd::", "forwarded-ignores-xff 127.0.0.0",
		"spoofed 203.0.113.0", "two-lines 198.51.100.0", "untrusted 127.0.0.0", "v4-port 198.51.100.0", "v6-port 2001:db8:abcd::",
	}, "\n")
	if got != want {
		t.Errorf("stored addresses:\n%s\nwant\n%s", got, want)
	}
	if n := stacktest.Count(t, s.store, "SELECT uniqExact(visitor_id) FROM events WHERE site_id = 'ip-cookieless'"); n != 1 {
		t.Errorf("a client choosing its left-most X-Forwarded-For entry made %d cookieless visitors, want 1", n)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events WHERE ip IN ('203.0.113.77', '6.6.6.6', '198.51.100.23')"); n != 0 {
		t.Errorf("%d events with a whole or spoofed address", n)
	}
}

// TestRevenueBoundedThroughTheStack (issue #21, 4): the ten
// unauthenticated purchases of 999999999999 EUR are refused with the
// reason; ten at the bound are stored and add up exactly; orders beyond
// what an Int64 of micros holds (stored before the bound) read as the
// bound in a breakdown, never as a negative figure.
func TestRevenueBoundedThroughTheStack(t *testing.T) {
	s := newStack(t, 1)
	s.site(t, "shop")
	_, base := s.startCollector(t, nil)
	s.startProcessor(t, "-flush-interval", "100ms")
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, s.store), s.store, api.Config{Token: "tok", Rules: profiles.DefaultRules}).Register(mux)
	dash := httptest.NewServer(mux)
	defer dash.Close()

	purchase := func(visitor string, i int, amount string) (int, string) {
		body := fmt.Sprintf(`{"site":"shop","type":"purchase","visitor_id":"%s","order_id":"%s-%d","revenue":"%s","currency":"EUR","utm_source":"%s"}`,
			visitor, visitor, i, amount, visitor)
		code, _, resp := request(t, "POST", base+"/e", body)
		return code, resp
	}
	for i := range 10 {
		if code, resp := purchase("forger", i, "999999999999"); code != 400 || !strings.Contains(resp, "revenue is over 1000000000") {
			t.Fatalf("purchase of 999999999999: %d %s", code, resp)
		}
		if code, resp := purchase("big", i, "1000000000"); code != 202 {
			t.Fatalf("purchase at the bound: %d %s", code, resp)
		}
	}
	if code, h, _ := request(t, "GET", base+"/p.gif?site=shop&type=purchase&currency=EUR&revenue=-1000000000.5", ""); !pixelRefused(code, h, "revenue is over") {
		t.Errorf("pixel refund beyond the bound: %d %v", code, h)
	}
	stacktest.WaitCount(t, s.store, 20*time.Second, 10, "SELECT count() FROM events WHERE site_id = 'shop' AND type = 'purchase'")
	// Orders an older collector took, beyond the bound: 10 of
	// 999,999,999,999 EUR, as the issue sent.
	at := time.Now().UTC().Add(-time.Minute)
	var old []stacktest.Hit
	for i := range 10 {
		old = append(old, stacktest.Hit{At: at, Revenue: 999_999_999_999_000_000, Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase",
			event.VisitorID: "old", event.OrderID: fmt.Sprintf("old-%d", i), event.Currency: "EUR", event.UTMSource: "old"}})
	}
	stacktest.Insert(t, s.store, old...)

	var br struct {
		Columns []string
		Rows    [][]any
	}
	code, _, resp := request(t, "GET", dash.URL+"/api/v1/breakdown?site=shop&by=utm_source", "", "Authorization", "Bearer tok")
	if err := json.Unmarshal([]byte(resp), &br); code != 200 || err != nil {
		t.Fatalf("breakdown: %d %s", code, resp)
	}
	revenue := map[string]float64{}
	for _, r := range br.Rows {
		for i, c := range br.Columns {
			if c == "revenue" {
				revenue[fmt.Sprint(r[0])] = r[i].(float64)
			}
		}
	}
	if revenue["big"] != 10_000_000_000 || revenue["old"] != 9_223_372_036_854.78 || len(revenue) != 2 {
		t.Errorf("revenue by source %v, want big 10,000,000,000 and old at the bound 9,223,372,036,854.78", revenue)
	}
}

// TestRateLimitsThroughTheStack (issue #21, 10): one address over its
// bucket gets its images and 429s but stores only its burst; another
// address is not held back; a site over its own bucket is; a lists prop
// of 2,000 commas is refused, 32 lists are 32 consent rows.
func TestRateLimitsThroughTheStack(t *testing.T) {
	s := newStack(t, 1)
	s.site(t, "flood")
	demoKey := s.site(t, "demo")
	col, base := s.startCollector(t, func(c *app.Config) {
		c.TrustProxy = "127.0.0.1" // to play several addresses
		c.MaxBatchEvents = 10
		c.RateLimits = app.RateLimits{Address: 0.01, AddressBurst: 20, Site: 0.01, SiteBurst: 40, Keys: 1000}
	})
	s.startProcessor(t, "-flush-interval", "100ms")
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	// The counters are the process's, which other tests' collectors share.
	counted := map[string]float64{
		`collector_requests_rejected_total{endpoint="pixel",reason="rate_limited_address"}`:  30,
		`collector_requests_rejected_total{endpoint="beacon",reason="rate_limited_address"}`: 1,
		`collector_requests_rejected_total{endpoint="beacon",reason="rate_limited_site"}`:    1,
	}
	before := map[string]float64{}
	for sample := range counted {
		before[sample] = metric(t, col, sample)
	}

	// 50 pixels from one address: 50 images, 20 stored.
	limited := 0
	for i := range 50 {
		code, h, body := request(t, "GET", fmt.Sprintf("%s/p.gif?site=flood&visitor_id=v%d", base, i), "", from("203.0.113.7")...)
		if code != 200 || body != string(beacon.GIF) {
			t.Fatalf("pixel %d: %d", i, code)
		}
		if h.Get("X-Footfall-Dropped") == "rate-limit" && h.Get("Retry-After") != "" {
			limited++
		}
	}
	if limited != 30 {
		t.Errorf("%d pixels limited, want 30", limited)
	}
	// The beacon from that address: 429 with Retry-After and the reason.
	code, h, resp := request(t, "POST", base+"/e", `{"site":"flood","type":"pageview","visitor_id":"b"}`, from("203.0.113.7")...)
	if code != 429 || h.Get("Retry-After") == "" || !strings.Contains(resp, "too many events from this address") {
		t.Errorf("beacon over the limit: %d %q %s", code, h.Get("Retry-After"), resp)
	}
	// Another address has its own bucket; the site's (40) then runs out.
	stored := 20
	for i := range 3 {
		batch := "[" + strings.TrimSuffix(strings.Repeat(`{"site":"flood","type":"add_to_cart","visitor_id":"w"},`, 10), ",") + "]"
		code, _, resp := request(t, "POST", base+"/e", batch, from(fmt.Sprintf("198.51.100.%d", i+1))...)
		switch {
		case i < 2 && code == 202:
			stored += 10
		case i == 2 && code == 429 && strings.Contains(resp, "too many events for this site"):
		default:
			t.Errorf("batch %d from another address: %d %s", i, code, resp)
		}
	}
	// The fan-out: refused with its reason; 32 lists are fine.
	many := strings.Repeat(",", 2000)
	if code, _, resp := request(t, "POST", base+"/api/v1/events", `{"site":"demo","type":"subscribe","user_id":"bob@example.invalid","props":{"lists":"`+many+`"}}`,
		"Authorization", "Bearer "+demoKey); code != 400 || !strings.Contains(resp, "lists") {
		t.Errorf("2,000 commas: %d %s", code, resp)
	}
	var names []string
	for i := range event.MaxLists {
		names = append(names, fmt.Sprintf("list%d", i))
	}
	if code, _, resp := request(t, "POST", base+"/api/v1/events", `{"site":"demo","type":"subscribe","user_id":"carol@example.invalid","props":{"lists":"`+strings.Join(names, ",")+`"}}`,
		"Authorization", "Bearer "+demoKey); code != 202 {
		t.Errorf("32 lists: %d %s", code, resp)
	}
	stacktest.WaitCount(t, s.store, 20*time.Second, uint64(stored), "SELECT count() FROM events WHERE site_id = 'flood'")
	stacktest.WaitCount(t, s.store, 20*time.Second, uint64(event.MaxLists), "SELECT count() FROM consents WHERE site_id = 'demo' AND user_id = 'carol@example.invalid'")
	if n := stacktest.Count(t, s.store, "SELECT count() FROM consents WHERE user_id = 'bob@example.invalid'"); n != 0 {
		t.Errorf("%d consent rows for the refused subscribe", n)
	}
	for sample, want := range counted {
		if got := metric(t, col, sample) - before[sample]; got != want {
			t.Errorf("%s rose by %v, want %v", sample, got, want)
		}
	}
}

// TestMalformedRequestsNotEchoed (issue #21, 11): a request that is not
// HTTP gets a short answer of the collector's own, quoting nothing of
// what was sent (fasthttp's echoed up to 4 KB of it), and is counted.
func TestMalformedRequestsNotEchoed(t *testing.T) {
	s := newStack(t, 1)
	col, base := s.startCollector(t, nil)
	host := strings.TrimPrefix(base, "http://")
	const malformed = `collector_requests_rejected_total{endpoint="unknown",reason="malformed"}`
	before := metric(t, col, malformed)
	for _, raw := range []string{
		"GET /p.gif HTTP/1.1\r\nHost: x\r\nCookie: session=SECRET-COOKIE-1\r\nthis line has no colon SECRET-2\r\n\r\n",
		"GET /p.gif?site=SECRET-3 HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"SECRET-4 \x00\x01 garbage\r\n\r\n",
	} {
		conn, err := net.DialTimeout("tcp", host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(conn, raw)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%q: no answer: %v", raw, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != 400 || strings.Contains(string(body), "SECRET") || len(body) > 100 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%q: %d %q", raw, resp.StatusCode, body)
		}
	}
	if n := metric(t, col, malformed) - before; n != 3 {
		t.Errorf("malformed requests counted %v times, want 3", n)
	}
}

// TestUnsubscribeOnlyByPostThroughTheStack (issue #21, 2): a GET of a
// recipient's unsubscribe link (a link scanner, the reader's click) and a
// HEAD (a link checker) record nothing; the one-click POST records the
// withdrawal in the consent ledger. An open with an invented token (11)
// is an image and nothing else.
func TestUnsubscribeOnlyByPostThroughTheStack(t *testing.T) {
	const secret = "security-link-secret"
	s := newStack(t, 1) // one partition: what was queued first is stored first
	s.site(t, "shop")
	_, base := s.startCollector(t, func(c *app.Config) { c.LinkSecret = secret })
	s.startProcessor(t, "-flush-interval", "100ms", "-segments-interval", "0")
	signer, _ := links.NewSigner(secret)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, s.store), s.store, api.Config{Token: "tok", Rules: profiles.DefaultRules, Links: signer, CollectorURL: base}).Register(mux)
	dash := httptest.NewServer(mux)
	defer dash.Close()
	auth := []string{"Authorization", "Bearer tok"}

	var c campaigns.Campaign
	if code, _, resp := request(t, "POST", dash.URL+"/api/v1/campaigns", `{"site":"shop","name":"Autumn"}`, auth...); code != 201 || json.Unmarshal([]byte(resp), &c) != nil {
		t.Fatalf("campaign: %d %s", code, resp)
	}
	if code, _, resp := request(t, "POST", dash.URL+"/api/v1/campaigns/"+c.ID+"/recipients?site=shop&consent_wording=autumn-v1", "email\nann@x.example\n",
		append(auth, "Content-Type", "text/csv")...); code != 200 {
		t.Fatalf("import: %d %s", code, resp)
	}
	var recipients []map[string]string
	if code, _, resp := request(t, "GET", dash.URL+"/api/v1/campaigns/"+c.ID+"/recipients?site=shop", "", auth...); code != 200 || json.Unmarshal([]byte(resp), &recipients) != nil || len(recipients) != 1 {
		t.Fatalf("recipients: %d %s", code, resp)
	}
	unsub, open := recipients[0]["unsubscribe_url"], recipients[0]["open_url"]
	stacktest.WaitCount(t, s.store, 20*time.Second, 1, "SELECT count() FROM consents WHERE user_id = 'ann@x.example' AND granted = 1")

	for _, method := range []string{"GET", "HEAD", "GET"} {
		code, h, page := request(t, method, unsub, "", "Accept-Language", "fr-FR,fr;q=0.9")
		if code != 200 || h.Get("Content-Language") != "fr" || method == "GET" && !strings.Contains(page, "Me désabonner") {
			t.Fatalf("%s: %d %s", method, code, page)
		}
	}
	// An invented token's open (the collector cannot tell it from an
	// earlier version's unsigned token: it queues it as unverified, for
	// the processor, which has no recipient for it, to drop), then ann's
	// own open as a marker: once it is stored, anything queued before it
	// is too.
	if code, _, body := request(t, "GET", base+"/o/"+links.NewToken()+".gif", ""); code != 200 || body != string(beacon.GIF) {
		t.Errorf("invented token: %d", code)
	}
	if code, _, _ := request(t, "GET", open, ""); code != 200 {
		t.Fatalf("open: %d", code)
	}
	stacktest.WaitCount(t, s.store, 20*time.Second, 1, "SELECT count() FROM events WHERE type = 'email_open'")
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events WHERE type = 'unsubscribe'"); n != 0 {
		t.Fatalf("GET and HEAD of the unsubscribe link recorded %d withdrawals", n)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events_rejected"); n != 0 {
		t.Errorf("%d events rejected: the invented token's open was kept", n)
	}

	// The one-click POST, as a mail client sends it.
	code, _, page := request(t, "POST", unsub, "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded")
	if code != 200 || !strings.Contains(page, "You are unsubscribed") {
		t.Fatalf("POST: %d %s", code, page)
	}
	stacktest.WaitCount(t, s.store, 20*time.Second, 1, "SELECT count() FROM events WHERE type = 'unsubscribe'")
	stacktest.WaitCount(t, s.store, 20*time.Second, 1, "SELECT count() FROM consents WHERE user_id = 'ann@x.example' AND granted = 0")
}

// pixelRefused says whether a pixel's answer is a refusal: its GIF with
// 200 (an image tag shows no broken image), the reason in
// X-Footfall-Rejected and the message, containing why, in X-Footfall-Error.
func pixelRefused(code int, h http.Header, why string) bool {
	return code == 200 && h.Get("X-Footfall-Rejected") != "" && strings.Contains(h.Get("X-Footfall-Error"), why)
}
