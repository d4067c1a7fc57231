package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// zoneServer stores the traffic of two sites, "paris" in Europe/Paris and
// "kolkata" in Asia/Kolkata (+05:30), and serves the API with the clock at
// now. Every time below is UTC.
//
//	paris    Nov 30 22:30 order o1 (23:30 in Paris, Nov 30), Nov 30 23:30 order o2 (00:30, Dec 1),
//	         each with a page view a second before it;
//	         a page view on every UTC hour from Mar 28 22:00 to Mar 29 22:00 (Paris: Mar 28 23:00
//	         to Mar 30 00:00, a 23-hour day between) and from Oct 24 21:00 to Oct 25 23:00
//	         (Paris: Oct 24 23:00 to Oct 26 00:00, a 25-hour day between)
//	kolkata  page views Nov 30 18:29 (23:59 in Kolkata, Nov 30), 18:30 (00:00, Dec 1), 18:45 /b,
//	         19:10 (00:40), 19:35 (01:05), Dec 1 18:29 (23:59), 18:30 (00:00, Dec 2)
func zoneServer(t *testing.T, now time.Time) *httptest.Server {
	_, store := stacktest.ClickHouse(t)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(mo time.Month, d, h, m int) time.Time { return time.Date(2026, mo, d, h, m, 0, 0, time.UTC) }
	n := 0
	page := func(site string, at time.Time, path string) stacktest.Hit {
		n++
		return stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: site, event.Type: "pageview",
			event.VisitorID: fmt.Sprintf("v%d", n), event.SessionID: fmt.Sprintf("s%d", n), event.URL: "https://shop.example" + path}}
	}
	order := func(at time.Time, id string, euros int64) []stacktest.Hit {
		p := page("paris", at.Add(-time.Second), "/cart")
		o := stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "paris", event.Type: "purchase", event.VisitorID: p.Fields[event.VisitorID],
			event.SessionID: p.Fields[event.SessionID], event.URL: "https://shop.example/thanks", event.OrderID: id, event.Currency: "EUR"},
			Revenue: euros * 1_000_000}
		return []stacktest.Hit{p, o}
	}
	hits := append(order(utc(11, 30, 22, 30), "o1", 10), order(utc(11, 30, 23, 30), "o2", 20)...)
	for h := utc(3, 28, 22, 0); !h.After(utc(3, 29, 22, 0)); h = h.Add(time.Hour) {
		hits = append(hits, page("paris", h, "/spring"))
	}
	for h := utc(10, 24, 21, 0); !h.After(utc(10, 25, 23, 0)); h = h.Add(time.Hour) {
		hits = append(hits, page("paris", h, "/autumn"))
	}
	hits = append(hits, page("kolkata", utc(11, 30, 18, 29), "/a"), page("kolkata", utc(11, 30, 18, 30), "/a"),
		page("kolkata", utc(11, 30, 18, 45), "/b"), page("kolkata", utc(11, 30, 19, 10), "/a"),
		page("kolkata", utc(11, 30, 19, 35), "/a"), page("kolkata", utc(12, 1, 18, 29), "/a"), page("kolkata", utc(12, 1, 18, 30), "/a"))
	stacktest.Insert(t, store, hits...)
	refresh(t, store)
	zones := map[string]*time.Location{"paris": paris, "kolkata": kolkata}
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules,
		Zone: func(site string) *time.Location { return zones[site] }, Now: func() time.Time { return now }}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// series reads a report's rows as [time, values...], times as sent.
func seriesRows(t *testing.T, srv *httptest.Server, path string) [][]any {
	t.Helper()
	var tab struct {
		From, To string
		Rows     [][]any
	}
	if code := get(t, srv, path, "tok", &tab); code != 200 {
		t.Fatalf("%s: status %d", path, code)
	}
	return tab.Rows
}

// TestSiteZone: a site's days, hours and "today" are its zone's, in the
// reports of events and in the overview's rollups. Before, every date was
// UTC's: the order at 00:30 on 1 December in Paris sat under 30 November,
// and an hourly series of any day had 24 steps.
func TestSiteZone(t *testing.T) {
	// 00:30 on 1 December in Paris.
	srv := zoneServer(t, time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC))

	// Orders either side of Paris's midnight: o1 at 23:30 on Nov 30, o2 (sent at 23:30 UTC) at 00:30 on Dec 1.
	got := seriesRows(t, srv, "/api/v1/timeseries?site=paris&from=2026-11-30&to=2026-12-02&interval=day&metrics=orders,revenue")
	want := [][]any{{"2026-11-30T00:00:00+01:00", 1., 10.}, {"2026-12-01T00:00:00+01:00", 1., 20.}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("daily orders in Paris: %v, want %v", got, want)
	}
	got = seriesRows(t, srv, "/api/v1/breakdown?site=paris&from=2026-12-01&to=2026-12-02&by=type")
	want = [][]any{{"pageview", 1., 1., 1., 1., 0., 0.}, {"purchase", 1., 0., 1., 1., 1., 20.}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("1 December in Paris by type: %v, want %v", got, want)
	}

	// "today" is 1 December in Paris at 00:30 there: the default period is the 7 days to it.
	var o api.Overview
	if code := get(t, srv, "/api/v1/overview?site=paris&interval=day", "tok", &o); code != 200 {
		t.Fatalf("overview: %d", code)
	}
	last := o.Series[len(o.Series)-1]
	if o.Zone != "Europe/Paris" {
		t.Errorf("overview names zone %q, want Europe/Paris (the page's presets read the site's today in it)", o.Zone)
	}
	if o.From.Format(time.RFC3339) != "2026-11-25T00:00:00+01:00" || o.To.Format(time.RFC3339) != "2026-12-02T00:00:00+01:00" ||
		len(o.Series) != 7 || last.Time.Format(time.RFC3339) != "2026-12-01T00:00:00+01:00" || last.Pageviews != 1 ||
		o.Series[5].Pageviews != 1 || o.Pageviews != 2 {
		t.Errorf("the last 7 days at 00:30 on Dec 1 in Paris: %s to %s, %d views, series %+v", o.From.Format(time.RFC3339), o.To.Format(time.RFC3339), o.Pageviews, o.Series)
	}
	if code := get(t, srv, "/api/v1/overview?site=paris&from=2026-12-01&to=2026-12-02", "tok", &o); code != 200 {
		t.Fatalf("overview: %d", code)
	}
	if o.Pageviews != 1 || o.Visitors != 1 || len(o.Series) != 24 || o.Series[0].Pageviews != 1 ||
		!reflect.DeepEqual(o.Pages, []api.Row{{Key: "/cart", Visitors: 1, Views: 1}}) {
		t.Errorf("overview of Dec 1 in Paris: %d views, %d visitors, pages %+v, series %+v", o.Pageviews, o.Visitors, o.Pages, o.Series)
	}

	// The days clocks change: 23 and 25 hours, a page view in each, in
	// the reports of events and in the overview.
	for _, c := range []struct {
		day, next string
		hours     int
		third     string // the third hour's start
	}{
		{"2026-03-29", "2026-03-30", 23, "2026-03-29T03:00:00+02:00"},
		{"2026-10-25", "2026-10-26", 25, "2026-10-25T02:00:00+02:00"},
	} {
		rows := seriesRows(t, srv, "/api/v1/timeseries?site=paris&interval=hour&metrics=pageviews&from="+c.day+"&to="+c.next)
		if len(rows) != c.hours || rows[2][0] != c.third {
			t.Errorf("%s hourly: %d steps, want %d, the third %v want %s", c.day, len(rows), c.hours, rows[2][0], c.third)
		}
		for _, r := range rows {
			if r[1] != 1. {
				t.Errorf("%s hourly: %v, want a page view an hour", c.day, rows)
				break
			}
		}
		if code := get(t, srv, "/api/v1/overview?site=paris&interval=hour&from="+c.day+"&to="+c.next, "tok", &o); code != 200 {
			t.Fatalf("overview: %d", code)
		}
		if len(o.Series) != c.hours || o.Series[2].Time.Format(time.RFC3339) != c.third || o.Pageviews != uint64(c.hours) {
			t.Errorf("%s overview: %d views, %d steps, want %d", c.day, o.Pageviews, len(o.Series), c.hours)
		}
		for _, p := range o.Series {
			if p.Pageviews != 1 || p.Visitors != 1 {
				t.Errorf("%s overview: %+v, want a page view an hour", c.day, o.Series)
				break
			}
		}
	}
	// The days around them: the page views of 23:00 the day before and
	// 00:00 the day after are theirs.
	rows := seriesRows(t, srv, "/api/v1/timeseries?site=paris&interval=day&metrics=pageviews&from=2026-10-24&to=2026-10-27")
	if want := [][]any{{"2026-10-24T00:00:00+02:00", 1.}, {"2026-10-25T00:00:00+02:00", 25.}, {"2026-10-26T00:00:00+01:00", 1.}}; !reflect.DeepEqual(rows, want) {
		t.Errorf("days around Oct 25: %v, want %v", rows, want)
	}
	if code := get(t, srv, "/api/v1/overview?site=paris&interval=day&from=2026-03-28&to=2026-03-31", "tok", &o); code != 200 {
		t.Fatalf("overview: %d", code)
	}
	if len(o.Series) != 3 || o.Series[0].Pageviews != 1 || o.Series[1].Pageviews != 23 || o.Series[2].Pageviews != 1 ||
		o.Series[2].Time.Format(time.RFC3339) != "2026-03-30T00:00:00+02:00" {
		t.Errorf("overview days around Mar 29: %+v", o.Series)
	}

	// Kolkata, +05:30: its hours begin at :30 UTC, which the hourly
	// rollup cannot split; 1 December there is Nov 30 18:30 to Dec 1 18:30.
	if code := get(t, srv, "/api/v1/overview?site=kolkata&from=2026-12-01&to=2026-12-02", "tok", &o); code != 200 {
		t.Fatalf("overview: %d", code)
	}
	if o.Pageviews != 5 || o.Visitors != 5 || len(o.Series) != 24 || o.Series[0].Pageviews != 3 || o.Series[1].Pageviews != 1 ||
		o.Series[23].Pageviews != 1 || o.Series[0].Time.Format(time.RFC3339) != "2026-12-01T00:00:00+05:30" ||
		!reflect.DeepEqual(o.Pages, []api.Row{{Key: "/a", Visitors: 4, Views: 4}, {Key: "/b", Visitors: 1, Views: 1}}) {
		t.Errorf("overview of Dec 1 in Kolkata: %d views %d visitors, pages %+v, series %+v", o.Pageviews, o.Visitors, o.Pages, o.Series)
	}
	if code := get(t, srv, "/api/v1/overview?site=kolkata&interval=day&from=2026-11-30&to=2026-12-03", "tok", &o); code != 200 {
		t.Fatalf("overview: %d", code)
	}
	if o.Pageviews != 7 || len(o.Series) != 3 || o.Series[0].Pageviews != 1 || o.Series[1].Pageviews != 5 || o.Series[2].Pageviews != 1 {
		t.Errorf("overview days in Kolkata: %d views, %+v", o.Pageviews, o.Series)
	}
	rows = seriesRows(t, srv, "/api/v1/timeseries?site=kolkata&interval=hour&metrics=pageviews&from=2026-12-01&to=2026-12-02")
	if len(rows) != 24 || rows[0][0] != "2026-12-01T00:00:00+05:30" || rows[0][1] != 3. || rows[1][1] != 1. || rows[23][1] != 1. {
		t.Errorf("hourly in Kolkata: %v", rows)
	}

	// A CSV file's times are the site's, with its offset.
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/timeseries?site=paris&from=2026-11-30&to=2026-12-02&interval=day&metrics=orders&format=csv", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "time,orders\n2026-11-30T00:00:00+01:00,1\n2026-12-01T00:00:00+01:00,1\n"; string(body) != want ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "2026-11-30-2026-12-02") {
		t.Errorf("CSV: %q %s, want %q", body, resp.Header.Get("Content-Disposition"), want)
	}

	// The profile's timeline is on the site's clock: o2's buyer (v2) at
	// 00:30 on Dec 1 in Paris.
	var p struct {
		FirstSeen string `json:"first_seen"`
		LastOrder string `json:"last_order"`
		Timeline  []struct{ Time, Type string }
	}
	if code := get(t, srv, "/api/v1/profile?site=paris&visitor_id=v2", "tok", &p); code != 200 {
		t.Fatalf("profile: %d", code)
	}
	wantTimes := []string{"2026-12-01T00:30:00+01:00 purchase", "2026-12-01T00:29:59+01:00 pageview"}
	var gotTimes []string
	for _, e := range p.Timeline {
		gotTimes = append(gotTimes, e.Time+" "+e.Type)
	}
	if !reflect.DeepEqual(gotTimes, wantTimes) || p.FirstSeen != "2026-12-01T00:29:59+01:00" || p.LastOrder != "2026-12-01T00:30:00+01:00" {
		t.Errorf("timeline %v, first seen %s, last order %s; want %v", gotTimes, p.FirstSeen, p.LastOrder, wantTimes)
	}
}
