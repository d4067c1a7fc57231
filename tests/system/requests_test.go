package system

import (
	"bytes"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"footfall/collector/app"
	"footfall/collector/beacon"
	"footfall/internal/links"
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
	if resp := get(base + "/p.gif?site=req&type=purchase&order_id=A2&revenue=100"); resp.StatusCode != 400 {
		t.Errorf("pixel revenue without currency: %d, want 400", resp.StatusCode)
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
