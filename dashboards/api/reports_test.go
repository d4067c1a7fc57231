package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

const (
	iphone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36"
)

// reportServer seeds three visitors over two days and serves the API:
//
//	a (desktop) d1 09:00 /  (google), 09:01 /shoes/trail, 09:02 cart, 09:03 order o1 50.00
//	b (iPhone)  d1 11:00 /  (t.co); d2 09:00 /shoes, a second session
//	c (Android) d2 10:00 /shoes (spring newsletter), 10:01 /hats, 10:01 cart
//	z           ten days later, outside the period
func reportServer(t *testing.T) *httptest.Server {
	_, store := stacktest.ClickHouse(t)
	d1 := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	d2 := d1.Add(24 * time.Hour)
	hit := func(at time.Time, visitor, session, ua, typ, path, ref string) stacktest.Hit {
		f := map[event.Field]string{event.Site: "shop", event.Type: typ, event.VisitorID: visitor, event.SessionID: session,
			event.URL: "https://shop.example" + path, event.Referrer: ref}
		if ua != "" {
			f[event.UserAgent] = ua
		}
		return stacktest.Hit{At: at, Fields: f}
	}
	// A custom event with one property.
	custom := func(at time.Time, visitor, session, ua, key, value string) stacktest.Hit {
		h := hit(at, visitor, session, ua, "event", "/pricing", "")
		h.Fields[event.Name], h.Props = "signup_click", []string{key, value}
		return h
	}
	books := func(h stacktest.Hit, name, key, value string) stacktest.Hit {
		h.Fields[event.Site], h.Fields[event.Name], h.Props = "books", name, []string{key, value}
		return h
	}
	order := hit(d1.Add(3*time.Minute), "a", "a1", "", "purchase", "/thanks", "")
	order.Fields[event.OrderID], order.Revenue = "o1", 50_000_000
	stacktest.Insert(t, store,
		hit(d1, "a", "a1", "", "pageview", "/", "https://www.google.com/"),
		hit(d1.Add(time.Minute), "a", "a1", "", "pageview", "/shoes/trail", "https://shop.example/"),
		hit(d1.Add(2*time.Minute), "a", "a1", "", "add_to_cart", "/shoes/trail", ""),
		order,
		hit(d1.Add(2*time.Hour), "b", "b1", iphone, "pageview", "/", "https://t.co/x"),
		hit(d2, "b", "b2", iphone, "pageview", "/shoes", ""),
		hit(d2.Add(time.Hour), "c", "c1", android, "pageview", "/shoes?utm_source=news&utm_medium=email&utm_campaign=spring", ""),
		hit(d2.Add(time.Hour+time.Minute), "c", "c1", android, "pageview", "/hats", "https://shop.example/shoes"),
		hit(d2.Add(time.Hour+time.Minute), "c", "c1", android, "add_to_cart", "/hats", ""),
		hit(d2.AddDate(0, 0, 10), "z", "z1", "", "pageview", "/", ""),
		custom(d1.Add(4*time.Minute), "a", "a1", "", "plan", "pro"),
		custom(d1.Add(5*time.Minute), "a", "a1", "", "plan", "pro"),
		custom(d2.Add(time.Hour+2*time.Minute), "c", "c1", android, "plan", "free"),
		hit(time.Now().Add(-10*time.Minute), "y", "y1", "", "pageview", "/now", ""),
		// Another site's product views and a custom event: by=event lists
		// events, by=product products.
		books(hit(d1, "k", "k1", "", "product_view", "/dune", ""), "Dune", "sku", "b1"),
		books(hit(d1.Add(time.Minute), "k", "k1", "", "add_to_cart", "/dune", ""), "Dune", "sku", "b1"),
		books(hit(d1.Add(2*time.Minute), "k", "k1", "", "event", "/dune", ""), "wishlist", "list", "gifts"),
		hit(time.Now().Add(-40*time.Minute), "x", "x1", "", "pageview", "/before", ""),
	)
	refresh(t, store)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// rows fetches a report's rows as JSON numbers and strings.
func rows(t *testing.T, srv *httptest.Server, path string) [][]any {
	t.Helper()
	var tab api.Table
	if code := get(t, srv, path, "tok", &tab); code != 200 {
		t.Fatalf("%s: status %d", path, code)
	}
	return tab.Rows
}

func TestReports(t *testing.T) {
	srv := reportServer(t)
	const period = "site=shop&from=2026-11-10&to=2026-11-12"
	cases := []struct {
		name, query string
		want        [][]any
	}{
		{"pages of mobile visitors", "/api/v1/breakdown?" + period + "&by=page&filter=device==mobile", [][]any{
			{"/shoes", 2., 2., 2., 2., 0., 0.},
			{"/hats", 1., 1., 1., 2., 0., 0.},
			{"/", 1., 1., 1., 1., 0., 0.},
			{"/pricing", 1., 0., 1., 1., 0., 0.},
		}},
		{"devices with revenue", "/api/v1/breakdown?" + period + "&by=device", [][]any{
			{"mobile", 2., 4., 3., 6., 0., 0.},
			{"desktop", 1., 2., 1., 6., 1., 50.},
		}},
		{"filters combine", "/api/v1/breakdown?" + period + "&by=section&filter=device==mobile&filter=page^=/shoes", [][]any{
			{"/shoes", 2., 2., 2., 2., 0., 0.},
		}},
		// The campaign brought c's visit: its later page, cart and custom
		// event are the campaign's too (README, Attribution).
		{"campaign", "/api/v1/breakdown?" + period + "&by=utm_campaign&filter=utm_campaign!=", [][]any{
			{"spring", 1., 2., 1., 4., 0., 0.},
		}},
		{"entry pages", "/api/v1/breakdown?" + period + "&by=entry_page", [][]any{
			{"/", 2., 2., 3., 0.5, 150.},
			{"/shoes", 2., 2., 3., 0.5, 60.},
		}},
		{"new and returning", "/api/v1/breakdown?" + period + "&by=visitor_type", [][]any{
			{"new", 3., 3., 5., 0.3333, 140.},
			{"returning", 1., 1., 1., 1., 0.},
		}},
		{"exit pages", "/api/v1/breakdown?" + period + "&by=exit_page", [][]any{
			{"/", 1., 1., 1., 1., 0.},
			{"/hats", 1., 1., 2., 0., 120.},
			{"/shoes", 1., 1., 1., 1., 0.},
			{"/shoes/trail", 1., 1., 2., 0., 300.},
		}},
		{"new and returning on mobile", "/api/v1/breakdown?" + period + "&by=visitor_type&filter=device==mobile", [][]any{
			{"new", 2., 2., 3., 0.5, 60.},
			{"returning", 1., 1., 1., 1., 0.},
		}},
		{"countries (none without a GeoIP database)", "/api/v1/breakdown?" + period + "&by=country", [][]any{
			{"", 3., 6., 4., 12., 1., 50.},
		}},
		{"custom events by property", "/api/v1/breakdown?" + period + "&by=prop.plan&filter=type==event&filter=event==signup_click", [][]any{
			{"pro", 1., 0., 1., 2., 0., 0.},
			{"free", 1., 0., 1., 1., 0., 0.},
		}},
		{"events are events", "/api/v1/breakdown?site=books&from=2026-11-10&to=2026-11-12&by=event", [][]any{
			{"", 1., 0., 1., 2., 0., 0.},
			{"wishlist", 1., 0., 1., 1., 0., 0.},
		}},
		{"products are products", "/api/v1/breakdown?site=books&from=2026-11-10&to=2026-11-12&by=product&filter=product!=", [][]any{
			{"Dune", 1., 0., 1., 2., 0., 0.},
		}},
		{"property keys", "/api/v1/breakdown?" + period + "&by=prop", [][]any{
			{"plan", 2., 0., 2., 3., 0., 0.},
		}},
		{"daily series", "/api/v1/timeseries?" + period + "&interval=day", [][]any{
			{"2026-11-10T00:00:00Z", 3., 2., 2., 0.5, 150.},
			{"2026-11-11T00:00:00Z", 3., 2., 2., 0.5, 60.},
		}},
		{"orders and revenue series", "/api/v1/timeseries?" + period + "&interval=day&metrics=orders,revenue,visitors", [][]any{
			{"2026-11-10T00:00:00Z", 1., 50., 2.},
			{"2026-11-11T00:00:00Z", 0., 0., 2.},
		}},
		{"mobile series", "/api/v1/timeseries?" + period + "&interval=day&filter=device==mobile", [][]any{
			{"2026-11-10T00:00:00Z", 1., 1., 1., 1., 0.},
			{"2026-11-11T00:00:00Z", 3., 2., 2., 0.5, 60.},
		}},
		// The period's totals, the dashboard's key figures when filtered:
		// mobile's visitors are not the sum of its days' (b came on both).
		{"period's totals", "/api/v1/timeseries?" + period + "&interval=period", [][]any{
			{"2026-11-10T00:00:00Z", 6., 3., 4., 0.5, 105.},
		}},
		{"mobile period's totals", "/api/v1/timeseries?" + period + "&interval=period&filter=device==mobile&metrics=visitors,pageviews,orders", [][]any{
			{"2026-11-10T00:00:00Z", 2., 4., 0.},
		}},
		// Nothing matches: zeros, alike on 18.16 (which answered a row of
		// zeros and nan for GROUP BY a constant) and current ClickHouse (no
		// row).
		{"empty period's totals", "/api/v1/timeseries?" + period + "&interval=period&filter=device==tablet", [][]any{
			{"2026-11-10T00:00:00Z", 0., 0., 0., 0., 0.},
		}},
		{"funnel", "/api/v1/funnel?" + period + "&step=type==pageview&step=type==add_to_cart&step=type==purchase", [][]any{
			{1., "type==pageview", 3., 1., 0.},
			{2., "type==add_to_cart", 2., 0.6667, 0.3333},
			{3., "type==purchase", 1., 0.3333, 0.5},
		}},
		{"funnel with a page step", "/api/v1/funnel?" + period + "&step=" + url.QueryEscape("type==pageview;page^=/shoes") + "&step=" + url.QueryEscape("type==pageview;page==/hats"), [][]any{
			{1., "type==pageview;page^=/shoes", 3., 1., 0.},
			{2., "type==pageview;page==/hats", 1., 0.3333, 0.6667},
		}},
	}
	for _, c := range cases {
		if got := rows(t, srv, c.query); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: rows\n%v\nwant\n%v", c.name, got, c.want)
		}
	}

	weekly := rows(t, srv, "/api/v1/timeseries?site=shop&from=2026-11-01&to=2026-12-01&interval=week")
	if len(weekly) != 6 || weekly[0][0] != "2026-10-26T00:00:00Z" || weekly[2][1] != 6. || weekly[3][1] != 1. {
		t.Errorf("weekly series %v", weekly)
	}

	var rt api.Realtime
	if code := get(t, srv, "/api/v1/realtime?site=shop", "tok", &rt); code != 200 || rt.Visitors != 1 || rt.Pageviews != 1 ||
		len(rt.Pages) != 1 || rt.Pages[0] != (api.Row{Key: "/now", Visitors: 1, Views: 1}) {
		t.Errorf("realtime %d %+v, want the one visitor of the last 30 minutes", code, rt)
	}

	resp, err := bearer(srv.URL+"/api/v1/breakdown?"+period+"&by=device&format=csv", "tok")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	const wantCSV = "device,visitors,pageviews,sessions,events,orders,revenue EUR\nmobile,2,4,3,6,0,0\ndesktop,1,2,1,6,1,50\n"
	if string(body) != wantCSV || resp.Header.Get("Content-Disposition") != `attachment; filename="breakdown-device-shop-2026-11-10-2026-11-12.csv"` {
		t.Errorf("CSV %q (%s)", body, resp.Header.Get("Content-Disposition"))
	}

	// French Excel's dialect: the same figures, ';', decimal commas, a BOM.
	resp, err = bearer(srv.URL+"/api/v1/breakdown?"+period+"&by=visitor_type&format=csv&dialect=excel-fr", "tok")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	const wantFR = "\uFEFFvisitor_type;visitors;sessions;pageviews;bounce_rate;visit_duration_seconds\r\n" +
		"new;3;3;5;0,3333;140\r\nreturning;1;1;1;1;0\r\n"
	if string(body) != wantFR {
		t.Errorf("French Excel CSV %q, want %q", body, wantFR)
	}

	for _, bad := range []string{
		"/api/v1/breakdown?" + period + "&by=page&format=csv&dialect=excel",
		"/api/v1/breakdown?" + period + "&by=colour",
		"/api/v1/breakdown?" + period + "&by=page&filter=" + url.QueryEscape("colour==red"),
		"/api/v1/breakdown?" + period + "&by=page&filter=device",
		"/api/v1/breakdown?" + period + "&by=page&limit=0",
		"/api/v1/timeseries?" + period + "&interval=year",
		"/api/v1/timeseries?" + period + "&metrics=orders,colour",
		"/api/v1/funnel?" + period + "&step=type==pageview",
		"/api/v1/funnel?" + period + "&step=type==pageview&step=nope",
		"/api/v1/funnel?" + period + "&step=type==pageview;page==/&step=type==purchase",
	} {
		var e struct{ Error string }
		if code := get(t, srv, bad, "tok", &e); code != 400 || e.Error == "" {
			t.Errorf("%s: %d %q, want 400 with a reason", bad, code, e.Error)
		}
	}

	// A parameter read once given twice: the first value would be read and
	// the second silently dropped (a script asking for two sites would get
	// one site's report). Only filter and step are lists (the cases above).
	for _, twice := range []string{
		"/api/v1/breakdown?" + period + "&by=page&by=source",
		"/api/v1/breakdown?" + period + "&site=books&by=page",
		"/api/v1/funnel?" + period + "&step=type==pageview&step=type==purchase&sample=off&sample=auto",
		"/api/v1/breakdown?" + period + "&by=page&format=csv&dialect=excel-fr&dialect=rfc4180",
		"/api/v1/segments?site=shop&site=books",
		"/api/v1/profile?site=shop&user_id=u1&user_id=u2",
	} {
		resp, err := bearer(srv.URL+twice, "tok")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(body), "given 2 times") {
			t.Errorf("%s: %d %.80q, want 400 naming the parameter given twice", twice, resp.StatusCode, body)
		}
	}
}

// TestAffiliates: an affiliate's visitor who orders later, server-side and
// without the tag, is still the affiliate's; a partner site counts its
// visitors; a search engine is no partner.
func TestAffiliates(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	d1 := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	hit := func(at time.Time, visitor, session, typ, path, ref string) stacktest.Hit {
		return stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: typ, event.VisitorID: visitor,
			event.SessionID: session, event.URL: "https://shop.example" + path, event.Referrer: ref}}
	}
	order := func(at time.Time, visitor, id string, revenue int64) stacktest.Hit {
		h := stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase", event.VisitorID: visitor, event.OrderID: id}}
		h.Revenue = revenue
		return h
	}
	stacktest.Insert(t, store,
		hit(d1, "d", "d1", "pageview", "/?aff=blog1", ""),
		order(d1.Add(24*time.Hour), "d", "o9", 100_000_000),
		order(d1.Add(24*time.Hour), "d", "o9", 100_000_000),    // redelivered: once
		order(d1.Add(40*24*time.Hour), "d", "o10", 70_000_000), // past the window
		hit(d1.Add(time.Hour), "e", "e1", "pageview", "/", "https://partner.example/reviews"),
		hit(d1.Add(2*time.Hour), "f", "f1", "pageview", "/", "https://www.google.com/"),
		order(d1.Add(3*time.Hour), "f", "o11", 40_000_000),
	)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules,
		Commission: api.Commission{Default: 0.05, Rates: map[string]float64{"blog1": 0.1}}}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	got := rows(t, srv, "/api/v1/affiliates?site=shop&from=2026-11-01&to=2026-12-01")
	want := [][]any{
		{"blog1", "affiliate", 1., 1., 1., 100., 0.1, 10.},
		{"partner.example", "site", 1., 1., 0., 0., 0.05, 0.},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("affiliates\n%v\nwant\n%v", got, want)
	}
	var link struct{ URL string }
	if code := get(t, srv, "/api/v1/affiliates/link?affiliate=blog1&url="+url.QueryEscape("https://shop.example/p?x=1"), "tok", &link); code != 200 ||
		link.URL != "https://shop.example/p?aff=blog1&utm_medium=affiliate&utm_source=blog1&x=1" {
		t.Errorf("link %d %q", code, link.URL)
	}
	var e struct{ Error string }
	if code := get(t, srv, "/api/v1/affiliates/link?affiliate=blog1&url=javascript:alert(1)", "tok", &e); code != 400 || e.Error == "" {
		t.Errorf("javascript: link %d %q", code, e.Error)
	}
}

// TestAffiliateOrders: every order of an affiliate's visitor within the
// window counts, not one per visitor (an ANY INNER JOIN keeps one order
// row per visitor on current ClickHouse: 1 order here instead of 2).
func TestAffiliateOrders(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	d1 := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	order := func(at time.Time, visitor, id string, revenue int64) stacktest.Hit {
		h := stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase", event.VisitorID: visitor, event.OrderID: id}}
		h.Revenue = revenue
		return h
	}
	// The shop's backend reports each order too, under the visitor id it
	// gets without the browser's (u:<user id>). A report that took any one
	// visitor of an order took the backend's here and lost both orders.
	stacktest.Insert(t, store,
		stacktest.Hit{At: d1, Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview", event.VisitorID: "d",
			event.SessionID: "d1", event.URL: "https://shop.example/?aff=blog1"}},
		order(d1.Add(time.Hour), "d", "o1", 20_000_000),
		order(d1.Add(48*time.Hour), "d", "o2", 30_000_000),
		order(d1.Add(time.Hour), "u:dee@x.example", "o1", 20_000_000),
		order(d1.Add(48*time.Hour), "u:dee@x.example", "o2", 30_000_000),
	)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules, Commission: api.Commission{Default: 0.1}}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	got := rows(t, srv, "/api/v1/affiliates?site=shop&from=2026-11-01&to=2026-12-01")
	want := [][]any{{"blog1", "affiliate", 1., 1., 2., 50., 0.1, 5.}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("affiliates\n%v\nwant\n%v", got, want)
	}
}

// TestCSVEverywhere: the reports with a JSON shape of their own are CSV
// files too.
func TestCSVEverywhere(t *testing.T) {
	srv := reportServer(t)
	csvOf := func(path string) string {
		t.Helper()
		resp, err := bearer(srv.URL+path+"&format=csv", "tok")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Errorf("%s: %s %s", path, resp.Status, body)
		}
		return string(body)
	}
	if got, want := csvOf("/api/v1/overview?site=shop&from=2026-11-10&to=2026-11-12&interval=day"),
		"time,pageviews,visitors\n2026-11-10T00:00:00Z,3,2\n2026-11-11T00:00:00Z,3,2\n"; got != want {
		t.Errorf("overview CSV %q, want %q", got, want)
	}
	if got, want := csvOf("/api/v1/realtime?site=shop"), "page,visitors\n/now,1\n"; got != want {
		t.Errorf("realtime CSV %q, want %q", got, want)
	}
	// Classes only: stages depend on how long ago the seeded order was.
	if got, want := csvOf("/api/v1/lifecycle?site=shop"),
		"kind,name,people\nclass,visitor,4\nclass,subscriber,0\nclass,prospect,1\nclass,customer,1\nclass,loyal,0\n"; !strings.HasPrefix(got, want) {
		t.Errorf("lifecycle CSV %q, want it to start %q", got, want)
	}
}
