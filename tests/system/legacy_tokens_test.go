package system

// Tokens made before the collector verified them, and opens through image
// proxies, through the real collector, Kafka, processor and ClickHouse.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"footfall/collector/app"
	"footfall/collector/beacon"
	"footfall/dashboards/api"
	"footfall/internal/campaigns"
	"footfall/internal/links"
	"footfall/internal/profiles"
	"footfall/processor/imports"
	"footfall/tests/stacktest"
)

const gmailProxy = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"

// fromProxy fetches u as Gmail's image proxy does, from its address (the
// collector trusting loopback's X-Forwarded-For); 0 when it could not.
func fromProxy(t *testing.T, u string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", gmailProxy)
	req.Header.Set("X-Forwarded-For", "66.102.8.1")
	resp, err := client.Do(req)
	if err != nil {
		t.Error(err) // also from the goroutines of a test
		return 0, nil
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestLegacyTokensThroughTheStack: a campaign imported before the
// collector verified tokens (the importer without a Signer: random
// tokens, in the recipients table) is still counted after the upgrade:
// its recipients' opens and clicks are queued as unverified (the
// default, -legacy-tokens) and kept by the processor, which finds their
// tokens in recipients; the campaign's report counts them. An invented
// token of a token's shape is queued the same way, dropped by the
// processor and counted there, stored nowhere. A collector with
// -legacy-tokens=false refuses the old tokens' opens and clicks and
// counts them, while a signed token's open goes through.
func TestLegacyTokensThroughTheStack(t *testing.T) {
	const secret = "legacy-tokens-link-secret"
	s := newStack(t, 1) // one partition: what was queued first is stored first
	ops := freeAddr(t)
	s.startProcessor(t, "-flush-interval", "100ms", "-segments-interval", "0", "-processor-ops-listen", ops)
	s.site(t, "shop")
	_, base := s.startCollector(t, func(c *app.Config) {
		c.LinkSecret = secret
		c.TrustProxy = "127.0.0.1" // to play Gmail's image proxy
	})
	strict, strictBase := s.startCollector(t, func(c *app.Config) {
		c.LinkSecret = secret
		c.LegacyTokens = false
	})
	signer, _ := links.NewSigner(secret)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, s.store), s.store, api.Config{Token: "tok", Rules: profiles.DefaultRules, Links: signer, CollectorURL: base}).Register(mux)
	dash := httptest.NewServer(mux)
	defer dash.Close()

	// Before the upgrade: the campaign and its recipients' random tokens.
	ctx := context.Background()
	c, err := campaigns.NewStore(s.store.DB()).Save(ctx, campaigns.Campaign{Site: "shop", Name: "Old send", SentAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := imports.NewImporter(s.store).Add(ctx, c, []campaigns.Recipient{{Email: "ann@x.example"}, {Email: "bob@x.example"}, {Email: "cat@x.example"}}, "")
	if err != nil || len(res.Added) != 3 {
		t.Fatalf("import: %v %+v", err, res)
	}
	tok := map[string]string{}
	for _, r := range res.Added {
		if signer.CheckToken([]byte(r.Token)) {
			t.Fatalf("an unsigned importer made a signed token %s", r.Token)
		}
		tok[r.Email[:3]] = r.Token
	}
	// After it, a campaign imported with signed tokens.
	c2, err := campaigns.NewStore(s.store.DB()).Save(ctx, campaigns.Campaign{Site: "shop", Name: "New send", SentAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	res2, err := imports.NewImporter(s.store).SignTokens(signer).Add(ctx, c2, []campaigns.Recipient{{Email: "dan@x.example"}}, "")
	if err != nil || len(res2.Added) != 1 {
		t.Fatalf("import: %v %+v", err, res2)
	}
	dan := res2.Added[0].Token

	const dropped = `processor_events_dropped_total{reason="unknown_token"}`
	droppedBefore := opsMetric(t, ops, dropped)
	refused := func() float64 {
		return metric(t, strict, `collector_requests_rejected_total{endpoint="email_open",reason="unverified_token"}`) +
			metric(t, strict, `collector_requests_rejected_total{endpoint="email_click",reason="unverified_token"}`)
	}
	refusedBefore := refused()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	click := func(base, tk string) (int, string) {
		t.Helper()
		target := "https://shop.example/sale"
		resp, err := noRedirect.Get(base + "/c/" + tk + "/l1?u=" + url.QueryEscape(target) + "&s=" + signer.ClickSig("l1", target))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}

	// Two invented tokens first: dropped by the processor.
	for _, tk := range []string{links.NewToken(), "AAAAAAAAAAAAAAAAAAAAAA"} {
		if code, h, body := request(t, "GET", base+"/o/"+tk+".gif", ""); code != 200 || body != string(beacon.GIF) || h.Get("X-Footfall-Dropped") != "" {
			t.Errorf("invented token %s: %d %q", tk, code, h.Get("X-Footfall-Dropped"))
		}
	}
	if code, loc := click(base, links.NewToken()); code != 302 || !strings.HasPrefix(loc, "https://shop.example/sale") {
		t.Errorf("invented token's click: %d %q", code, loc)
	}
	// The old mails: ann's open through Gmail's proxy, bob's open and click.
	if code, h := fromProxy(t, links.OpenURL(base, tok["ann"])); code != 200 || h.Get("X-Footfall-Dropped") != "" {
		t.Fatalf("ann's open: %d %q", code, h.Get("X-Footfall-Dropped"))
	}
	if code, _, _ := request(t, "GET", links.OpenURL(base, tok["bob"]), ""); code != 200 {
		t.Fatalf("bob's open: %d", code)
	}
	if code, loc := click(base, tok["bob"]); code != 302 || loc != "https://shop.example/sale?ff_rt="+tok["bob"] {
		t.Fatalf("bob's click: %d %q", code, loc)
	}
	stacktest.WaitCount(t, s.store, 20*time.Second, 3, "SELECT count() FROM events WHERE type IN ('email_open', 'email_click')")
	got := rows(t, s, "SELECT concat(type, ' ', user_id, ' ', utm_campaign), arrayStringConcat(prop_keys, ',') FROM events WHERE type IN ('email_open', 'email_click') ORDER BY user_id, type")
	want := []string{"email_open ann@x.example old-send token,open_kind", "email_click bob@x.example old-send token,link", "email_open bob@x.example old-send token,open_kind"}
	if kinds := rows(t, s, "SELECT user_id, prop_values[indexOf(prop_keys, 'open_kind')] FROM events WHERE type = 'email_open' ORDER BY user_id"); strings.Join(kinds, "|") != "ann@x.example proxy|bob@x.example human" {
		t.Errorf("open kinds %q", kinds)
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("stored\n%q\nwant\n%q", got, want)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events_rejected"); n != 0 {
		t.Errorf("%d events rejected: the invented tokens were kept", n)
	}
	if n := opsMetric(t, ops, dropped) - droppedBefore; n != 3 {
		t.Errorf("%s rose by %v, want the 3 invented tokens", dropped, n)
	}
	var rep campaigns.Report
	if code, _, body := request(t, "GET", dash.URL+"/api/v1/campaigns/"+c.ID+"/report?site=shop", "", "Authorization", "Bearer tok"); code != 200 || json.Unmarshal([]byte(body), &rep) != nil {
		t.Fatalf("report: %d %s", code, body)
	}
	if rep.Sent != 3 || rep.Opened != 2 || rep.OpenedHuman != 2 || rep.Clicked != 1 || rep.Clicks != 1 {
		t.Errorf("the old campaign's report: %+v, want 3 sent, 2 opened by people, 1 click", rep)
	}

	// -legacy-tokens=false: cat's old open and click refused at the
	// collector (the image, the redirect without her token), counted;
	// dan's signed open, queued after them, stored.
	if code, h, _ := request(t, "GET", links.OpenURL(strictBase, tok["cat"]), ""); code != 200 || h.Get("X-Footfall-Dropped") != "bad-token" {
		t.Errorf("cat's open, -legacy-tokens=false: %d %q", code, h.Get("X-Footfall-Dropped"))
	}
	if code, loc := click(strictBase, tok["cat"]); code != 302 || loc != "https://shop.example/sale" {
		t.Errorf("cat's click, -legacy-tokens=false: %d %q", code, loc)
	}
	if code, h, _ := request(t, "GET", links.OpenURL(strictBase, dan), ""); code != 200 || h.Get("X-Footfall-Dropped") != "" {
		t.Fatalf("dan's open: %d %q", code, h.Get("X-Footfall-Dropped"))
	}
	stacktest.WaitCount(t, s.store, 20*time.Second, 1, "SELECT count() FROM events WHERE type = 'email_open' AND user_id = 'dan@x.example'")
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events WHERE type IN ('email_open', 'email_click') AND user_id = 'cat@x.example'"); n != 0 {
		t.Errorf("%d events of cat's refused token stored", n)
	}
	if n := refused() - refusedBefore; n != 2 {
		t.Errorf("refused legacy tokens counted %v times, want 2", n)
	}
	if n := opsMetric(t, ops, dropped) - droppedBefore; n != 3 {
		t.Errorf("%s rose by %v after the strict collector, want still 3", dropped, n)
	}
}

// TestOpensFromOneAddressThroughTheStack: with the rate limits at their
// defaults, 1,500 opens of signed tokens fetched within a second from
// one address (Gmail's image proxy, for 1,500 readers) are all stored,
// while 1,500 events of the snippet from one address are cut at its
// burst.
func TestOpensFromOneAddressThroughTheStack(t *testing.T) {
	const secret = "one-address-link-secret"
	const n = 1500
	s := newStack(t, 2)
	s.startProcessor(t, "-flush-interval", "100ms", "-segments-interval", "0")
	var defaults app.Config
	defaults.RegisterFlags(flag.NewFlagSet("defaults", flag.ContinueOnError))
	if defaults.RateLimits.Address != 100 || defaults.RateLimits.AddressBurst != 1000 {
		t.Fatalf("per-address defaults %+v", defaults.RateLimits)
	}
	s.site(t, "shop")
	col, base := s.startCollector(t, func(c *app.Config) {
		c.LinkSecret = secret
		c.TrustProxy = "127.0.0.1" // to play Gmail's image proxy
		c.RateLimits = defaults.RateLimits
	})
	signer, _ := links.NewSigner(secret)
	ctx := context.Background()
	c, err := campaigns.NewStore(s.store.DB()).Save(ctx, campaigns.Campaign{Site: "shop", Name: "Big send", SentAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	in := make([]campaigns.Recipient, n)
	for i := range in {
		in[i].Email = fmt.Sprintf("r%d@gmail.example", i)
	}
	res, err := imports.NewImporter(s.store).SignTokens(signer).Add(ctx, c, in, "")
	if err != nil || len(res.Added) != n {
		t.Fatalf("import: %v, %d added", err, len(res.Added))
	}
	const limitedOpens = `collector_requests_rejected_total{endpoint="email_open",reason="rate_limited_address"}`
	const limitedBeacons = `collector_requests_rejected_total{endpoint="beacon",reason="rate_limited_address"}`
	opensBefore, beaconsBefore := metric(t, col, limitedOpens), metric(t, col, limitedBeacons)

	var wg sync.WaitGroup
	var next, droppedOpens atomic.Int64
	start := time.Now()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				code, h := fromProxy(t, links.OpenURL(base, res.Added[i].Token))
				if code != 200 || h.Get("X-Footfall-Dropped") != "" {
					droppedOpens.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	// The address's bucket would have held 1,000 and 100 a second more.
	if took > 4*time.Second {
		t.Fatalf("1,500 opens took %v: too slow to meet the per-address limit", took)
	}
	t.Logf("%d opens from one address in %v", n, took)
	if droppedOpens.Load() != 0 {
		t.Errorf("%d opens dropped", droppedOpens.Load())
	}

	// The snippet's events from that address: 15 batches of 100.
	accepted := 0
	batch := "[" + strings.TrimSuffix(strings.Repeat(`{"site":"shop","type":"pageview","visitor_id":"v","url":"https://shop.example/"},`, 100), ",") + "]"
	for range n / 100 {
		switch code, _, _ := request(t, "POST", base+"/e", batch, "X-Forwarded-For", "66.102.8.1"); code {
		case 202:
			accepted += 100
		case 429:
		default:
			t.Fatalf("beacon: %d", code)
		}
	}
	if accepted < 1000 || accepted >= n {
		t.Errorf("%d of %d beacon events accepted from one address, want its burst of 1,000", accepted, n)
	}
	stacktest.WaitCount(t, s.store, 60*time.Second, n, "SELECT count() FROM events WHERE type = 'email_open' AND utm_campaign = 'big-send'")
	stacktest.WaitCount(t, s.store, 20*time.Second, uint64(accepted), "SELECT count() FROM events WHERE type = 'pageview' AND site_id = 'shop'")
	if d := metric(t, col, limitedOpens) - opensBefore; d != 0 {
		t.Errorf("%v opens counted over the address's limit", d)
	}
	if d := metric(t, col, limitedBeacons) - beaconsBefore; d != float64((n-accepted)/100) {
		t.Errorf("%v beacons counted over the address's limit, want %d", d, (n-accepted)/100)
	}
}
