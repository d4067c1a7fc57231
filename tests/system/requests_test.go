package system

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"footfall/collector/app"
	"footfall/collector/beacon"
	"footfall/dashboards/api"
	"footfall/internal/links"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// TestRequestsAsBrowsersSendThem sends what real pages send and checks the
// rows in ClickHouse: large headers (cookies, a long Referer, a long
// newsletter link), a landing URL whose campaign tags come after the
// field's 2,048 bytes, a purchase by pixel, and text that is not valid
// UTF-8 or holds NUL bytes.
func TestRequestsAsBrowsersSendThem(t *testing.T) {
	s := newStack(t, 1)
	const secret = "requests-link-secret"
	s.site(t, "req")
	col, base := s.startCollector(t, func(c *app.Config) { c.LinkSecret = secret })
	s.startProcessor(t, "-flush-interval", "100ms")

	get := func(url string, header ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", chrome)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		noRedirect := *client
		noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	isGIF := func(what string, resp *http.Response) {
		t.Helper()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !bytes.Equal(body, beacon.GIF) {
			t.Errorf("%s: %d %q, want the GIF", what, resp.StatusCode, body)
		}
	}

	// Headers as large as a browser's: 12 KB of cookies, a 3.9 KB Referer.
	cookies := strings.Repeat("c", 4000) + "=1; " + strings.Repeat("d", 4000) + "=2; " + strings.Repeat("e", 4000) + "=3"
	referer := "https://shop.example/big?utm_source=bigref&q=" + strings.Repeat("r", 3900)
	isGIF("pixel with a 3.9 KB Referer and 12 KB of cookies", get(base+"/p.gif?site=req&visitor_id=big", "Referer", referer, "Cookie", cookies))

	// A newsletter link of 3.6 KB still redirects (its token is no
	// recipient's, so its event is not stored here).
	signer, err := links.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	target := "https://shop.example/long?x=" + strings.Repeat("l", 3500)
	click := base + "/c/" + links.NewToken() + "/1?u=" + neturl.QueryEscape(target) + "&s=" + signer.ClickSig("1", target)
	if resp := get(click, "Cookie", cookies); resp.StatusCode != 302 || !strings.HasPrefix(resp.Header.Get("Location"), target) {
		t.Errorf("3.6 KB click link: %d, Location %.80q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Beyond the documented limit: 431 with a reason, and counted.
	huge := get(base+"/p.gif?site=req", "Cookie", strings.Repeat("h", 40<<10))
	if body, _ := io.ReadAll(huge.Body); huge.StatusCode != 431 || !strings.Contains(string(body), "32768 bytes") {
		t.Errorf("40 KB of headers: %d %s, want 431", huge.StatusCode, body)
	}
	if n := metric(t, col, `collector_requests_rejected_total{endpoint="unknown",reason="headers_too_large"}`); n != 1 {
		t.Errorf("headers_too_large counted %v times, want 1", n)
	}

	// Campaign tags and click ids after byte 2,048 of a landing URL, by
	// pixel and by beacon.
	landing := "https://shop.example/landing?state=" + strings.Repeat("s", 2100) + "&utm_source=late&utm_medium=email&utm_campaign=after2048&gbraid=0AAAAAo-test"
	isGIF("pixel with a long landing URL", get(base+"/p.gif?site=req&visitor_id=late1&url="+neturl.QueryEscape(landing)))
	if code, body := send(t, "POST", base+"/e", `{"site":"req","type":"pageview","visitor_id":"late2","url":"`+landing+`"}`); code != 202 {
		t.Errorf("beacon with a long landing URL: %d %s", code, body)
	}

	// A purchase by pixel keeps its revenue; one without a currency is
	// refused with the reason, not stored without its revenue.
	isGIF("pixel purchase", get(base+"/p.gif?site=req&visitor_id=buyer&type=purchase&order_id=A1&revenue=100&currency=EUR"))
	if resp := get(base + "/p.gif?site=req&type=purchase&order_id=A2&revenue=100"); !pixelRefused(resp.StatusCode, resp.Header, "currency") {
		t.Errorf("pixel revenue without currency: %d %v, want its GIF with the reason", resp.StatusCode, resp.Header)
	}

	// Invalid UTF-8 and NUL bytes: replaced alike by pixel and beacon.
	isGIF("pixel with bad bytes", get(base+"/p.gif?site=req&visitor_id=bad1&title=Caf%E9%00&p.k%FF=v%00&url="+neturl.QueryEscape("https://shop.example/caf\xe9")))
	if code, body := send(t, "POST", base+"/e", "{\"site\":\"req\",\"type\":\"pageview\",\"visitor_id\":\"bad2\",\"title\":\"Caf\xe9\\u0000\","+
		"\"url\":\"https://shop.example/caf\xe9\",\"props\":{\"k\xff\":\"v\\u0000\"}}"); code != 202 {
		t.Errorf("beacon with bad bytes: %d %s", code, body)
	}

	stacktest.WaitCount(t, s.store, 30*time.Second, 6, "SELECT count() FROM events WHERE site_id = 'req'")
	checks := []struct {
		what string
		want uint64
	}{
		{"visitor_id = 'big' AND url_path = '/big' AND utm_source = 'bigref'", 1},
		{"visitor_id IN ('late1', 'late2') AND utm_source = 'late' AND utm_medium = 'email' AND utm_campaign = 'after2048' AND source = 'late' AND length(url) <= 2048 AND position(url, 'gbraid=0AAAAAo-test') > 0", 2},
		{"type = 'purchase' AND order_id = 'A1' AND revenue_micros = 100000000 AND currency = 'EUR'", 1},
		{"type = 'purchase' AND order_id = 'A2'", 0},
		{"visitor_id IN ('bad1', 'bad2') AND title = 'Caf\uFFFD\uFFFD' AND url = 'https://shop.example/caf%E9' AND prop_keys = ['k\uFFFD'] AND prop_values = ['v\uFFFD']", 2},
	}
	for _, c := range checks {
		if got := stacktest.Count(t, s.store, "SELECT count() FROM events WHERE "+c.what); got != c.want {
			t.Errorf("%s: %d events, want %d", c.what, got, c.want)
		}
	}
}

// TestRealWorldTrafficKinds sends issue #20's kinds of real-world input
// through the collector, Kafka, the processor and ClickHouse, and reads
// them back through the dashboards API: a click id that comes late in a
// long landing URL (Taboola's tblci, Google's srsltid), tags in capitals,
// apps' referrers of Android and iOS, an AI assistant as referrer and as
// fetcher, keys that name nothing, and one page written with an
// internationalised host in punycode or Unicode and accents escaped,
// composed or combining.
func TestRealWorldTrafficKinds(t *testing.T) {
	s := newStack(t, 1)
	s.site(t, "rw")
	col, base := s.startCollector(t, nil)
	s.startProcessor(t, "-flush-interval", "100ms")
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, s.store), s.store, api.Config{Token: "tok", Rules: profiles.DefaultRules}).Register(mux)
	dash := httptest.NewServer(mux)
	defer dash.Close()

	hit := func(method, url, body, ua string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", ua)
		if strings.HasPrefix(url, dash.URL) {
			req.Header.Set("Authorization", "Bearer tok")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	post := func(what, body string) {
		t.Helper()
		if code, _, resp := hit("POST", base+"/e", body, chrome); code != 202 {
			t.Errorf("%s: %d %s", what, code, resp)
		}
	}
	pixel := func(what, query string) {
		t.Helper()
		if code, _, resp := hit("GET", base+"/p.gif?"+query, "", chrome); code != 200 || resp != string(beacon.GIF) {
			t.Errorf("%s: %d %q", what, code, resp)
		}
	}

	// A click id after byte 2,048 of a landing URL whose other parameters
	// are as long as it: shortened, the URL keeps it.
	var pad []string
	for i := 0; i < 25; i++ {
		pad = append(pad, fmt.Sprintf("f%02d=%s", i, strings.Repeat("v", 96)))
	}
	tblci := "tb-" + strings.Repeat("1", 97)
	landing := "https://shop.example/l?" + strings.Join(pad, "&") + "&TBLCI=" + tblci + "&srsltid=" + strings.Repeat("s", 97)
	pixel("pixel, tblci after 2 KB", "site=rw&visitor_id=tb1&url="+neturl.QueryEscape(landing))
	post("beacon, tblci after 2 KB", `{"site":"rw","type":"pageview","visitor_id":"tb2","url":"`+landing+`"}`)

	// Tags in capitals, in the landing URL and as the pixel's keys.
	pixel("UTM_SOURCE in the URL", "site=rw&visitor_id=upper1&url="+neturl.QueryEscape("https://shop.example/?UTM_SOURCE=News&UTM_MEDIUM=Email"))
	pixel("UTM_SOURCE as a key", "site=rw&visitor_id=upper2&UTM_SOURCE=News&Utm_Medium=Email&url=https%3A%2F%2Fshop.example%2F")

	// Apps and AI assistants as referrers.
	for visitor, ref := range map[string]string{
		"maps": "android-app://com.google.android.apps.maps/", "samsung": "android-app://com.sec.android.app.sbrowser/",
		"edge": "ios-app://1288723196/", "brave": "android-app://com.brave.browser/", "pplx": "https://www.perplexity.ai/",
	} {
		post(visitor, `{"site":"rw","type":"pageview","visitor_id":"`+visitor+`","url":"https://shop.example/","referrer":"`+ref+`"}`)
	}
	// Perplexity fetching a page for a person is no page view.
	const perplexityUser = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; +https://perplexity.ai/perplexity-user)"
	if code, h, _ := hit("GET", base+"/p.gif?site=rw&visitor_id=pplx-user", "", perplexityUser); code != 200 || h.Get("X-Footfall-Dropped") != "bot" {
		t.Errorf("Perplexity-User: %d, X-Footfall-Dropped %q", code, h.Get("X-Footfall-Dropped"))
	}

	// One page in four spellings.
	post("punycode host, combining accents", "{\"site\":\"rw\",\"type\":\"pageview\",\"visitor_id\":\"idn1\",\"url\":\"https://xn--caf-dma.example/cafe%CC%81/cre\u0300me\"}")
	pixel("Unicode host, escaped accents", "site=rw&visitor_id=idn2&url="+neturl.QueryEscape("https://CAFÉ.example/caf%C3%A9/crème"))

	// Keys that name nothing are refused with their name, counted.
	unknownPixel := `collector_requests_rejected_total{endpoint="pixel",reason="unknown_key"}`
	unknownBeacon := `collector_requests_rejected_total{endpoint="beacon",reason="unknown_key"}`
	before := metric(t, col, unknownPixel) + metric(t, col, unknownBeacon)
	for _, c := range []struct{ method, path, body, reason string }{
		{"GET", "/p.gif?site=rw&visitor_id=bad&type=purchase&value=49.90&currency=EUR", "", `unknown key \"value\"`},
		{"POST", "/e", `{"site":"rw","type":"purchase","visitor_id":"bad","value":49.9,"currency":"EUR"}`, `unknown key \"value\"`},
		{"GET", "/p.gif?site=rw&visitor_id=bad&p.=v", "", "a prop key must be 1 to 64 bytes"},
	} {
		code, h, resp := hit(c.method, base+c.path, c.body, chrome)
		if c.method == "GET" && !pixelRefused(code, h, strings.ReplaceAll(c.reason, `\"`, `"`)) ||
			c.method != "GET" && (code != 400 || !strings.Contains(resp, c.reason)) {
			t.Errorf("%s %s: %d %v %s, want a refusal with %s", c.method, c.path, code, h, resp, c.reason)
		}
	}
	if n := metric(t, col, unknownPixel) + metric(t, col, unknownBeacon) - before; n != 2 {
		t.Errorf("unknown keys counted %v times, want 2", n)
	}

	stacktest.WaitCount(t, s.store, 30*time.Second, 11, "SELECT count() FROM events WHERE site_id = 'rw'")
	for _, c := range []struct {
		what string
		want uint64
	}{
		{"visitor_id IN ('tb1', 'tb2') AND source = 'taboola' AND medium = 'cpc' AND click_id = '" + tblci + "' AND length(url) <= 2048 AND position(url, '&srsltid=sss') > 0", 2},
		{"visitor_id IN ('upper1', 'upper2') AND utm_source = 'News' AND utm_medium = 'Email' AND source = 'news' AND medium = 'email'", 2},
		{"visitor_id = 'maps' AND source = 'google maps' AND medium = 'organic'", 1},
		{"visitor_id = 'samsung' AND source = 'samsung internet' AND medium = 'referral'", 1},
		{"visitor_id = 'edge' AND source = 'edge' AND medium = 'referral'", 1},
		{"visitor_id = 'brave' AND source = 'brave' AND medium = 'organic'", 1},
		{"visitor_id = 'pplx' AND source = 'perplexity' AND medium = 'ai'", 1},
		{"visitor_id = 'pplx-user'", 0},
		{"visitor_id = 'bad'", 0},
		{"visitor_id IN ('idn1', 'idn2') AND url_host = 'café.example' AND url_path = '/café/crème'", 2},
	} {
		if got := stacktest.Count(t, s.store, "SELECT count() FROM events WHERE site_id = 'rw' AND "+c.what); got != c.want {
			t.Errorf("%s: %d events, want %d", c.what, got, c.want)
		}
	}

	// The dashboards' filters in any of the page's and host's spellings
	// find the one row.
	for _, filters := range [][]string{
		{"page^=/caf%C3%A9", "host==xn--caf-dma.example"},
		{"page==/cafe\u0301/cre%CC%80me", "host==CAFÉ.example"},
		{"section==/caf%c3%a9", "host==café.example"},
	} {
		q := neturl.Values{"site": {"rw"}, "by": {"page"}, "filter": filters}
		code, _, resp := hit("GET", dash.URL+"/api/v1/breakdown?"+q.Encode(), "", chrome)
		var tab struct {
			Columns []string
			Rows    [][]any
		}
		if err := json.Unmarshal([]byte(resp), &tab); code != 200 || err != nil {
			t.Fatalf("breakdown %v: %d %s", filters, code, resp)
		}
		if len(tab.Rows) != 1 || tab.Rows[0][0] != "/café/crème" {
			t.Errorf("breakdown by page, %v: %v, want one row /café/crème", filters, tab.Rows)
		}
	}
}
