package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/internal/reports"
	"footfall/processor/chstore"
	"footfall/processor/enrich"
	"footfall/tests/stacktest"
)

// seed inserts page views: visitor, path, source, time.
func seed(t *testing.T, store *chstore.Store) {
	type hit struct {
		visitor, path, ref string
		at                 time.Time
		session            string
	}
	d1 := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	d2 := d1.Add(24 * time.Hour)
	hits := []hit{
		{"a", "/", "https://www.google.com/", d1, "a1"},
		{"a", "/shoes", "", d1.Add(time.Minute), "a1"},
		{"b", "/", "https://t.co/x", d1.Add(2 * time.Hour), "b1"},
		{"b", "/shoes", "", d2, "b2"}, // b comes back the next day
		{"c", "/shoes", "https://www.google.com/", d2.Add(time.Hour), "c1"},
		{"c", "/hats", "", d2.Add(time.Hour), "c1"},
		{"z", "/", "", d2.AddDate(0, 0, 10), "z1"}, // outside the period
	}
	en := enrich.New(10)
	var rows []chstore.Row
	for _, h := range hits {
		var r chstore.Row
		r.Event = event.Event{ID: event.NewID(h.at.UnixMilli()), TimeMs: h.at.UnixMilli(), Ingest: event.IngestBeacon}
		r.Event.F[event.Site] = []byte("shop")
		r.Event.F[event.Type] = []byte("pageview")
		r.Event.F[event.VisitorID] = []byte(h.visitor)
		r.Event.F[event.SessionID] = []byte(h.session)
		r.Event.F[event.URL] = []byte("https://shop.example" + h.path)
		r.Event.F[event.Referrer] = []byte(h.ref)
		r.Event.F[event.UserAgent] = []byte("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0")
		en.Enrich(&r.Event, &r.Enriched)
		rows = append(rows, r)
	}
	if err := store.Insert(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
}

// bearer GETs url with token as Authorization: Bearer.
func bearer(url, token string) (*http.Response, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return http.DefaultClient.Do(req)
}

func get(t *testing.T, srv *httptest.Server, path, token string, into any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if into != nil {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func TestOverview(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	seed(t, store)
	refresh(t, store)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var o api.Overview
	if code := get(t, srv, "/api/v1/overview?site=shop&from=2026-11-10&to=2026-11-12", "tok", &o); code != 200 {
		t.Fatalf("status %d", code)
	}
	if o.Pageviews != 6 || o.Visitors != 3 || o.Interval != "hour" {
		t.Errorf("totals %d views %d visitors interval %s", o.Pageviews, o.Visitors, o.Interval)
	}
	want := api.SessionStats{Sessions: 4, NewSessions: 3, ReturningSessions: 1, BounceRate: 0.5, VisitDuration: 15}
	if o.SessionStats != want {
		t.Errorf("sessions %+v, want %+v", o.SessionStats, want)
	}
	if len(o.Series) != 48 || o.Series[9].Pageviews != 2 || o.Series[11].Pageviews != 1 || o.Series[10].Pageviews != 0 {
		t.Errorf("hourly series of %d points: %+v", len(o.Series), o.Series)
	}
	if code := get(t, srv, "/api/v1/overview?site=shop&from=2026-11-10&to=2026-11-12&interval=day", "tok", &o); code != 200 {
		t.Fatalf("status %d", code)
	}
	if len(o.Series) != 2 || o.Series[0].Pageviews != 3 || o.Series[0].Visitors != 2 || o.Series[1].Pageviews != 3 || o.Series[1].Visitors != 2 {
		t.Errorf("series %+v", o.Series)
	}
	wantPages := []api.Row{{Key: "/shoes", Visitors: 3, Views: 3}, {Key: "/", Visitors: 2, Views: 2}, {Key: "/hats", Visitors: 1, Views: 1}}
	if len(o.Pages) != 3 || o.Pages[0] != wantPages[0] || o.Pages[1] != wantPages[1] || o.Pages[2] != wantPages[2] {
		t.Errorf("pages %+v", o.Pages)
	}
	// Each page view under the source of its visit: a's and c's later
	// pages are Google's, b's return the next day twitter's, and no view
	// is (direct) or (internal).
	wantSources := []api.Row{{Key: "google", Visitors: 2, Views: 4}, {Key: "twitter", Visitors: 1, Views: 2}}
	if !reflect.DeepEqual(o.Sources, wantSources) {
		t.Errorf("sources %+v, want %+v", o.Sources, wantSources)
	}

	var e struct{ Error string }
	if code := get(t, srv, "/api/v1/overview?site=shop", "", &e); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code := get(t, srv, "/api/v1/overview?site=bad%20site", "tok", &e); code != 400 || e.Error == "" {
		t.Errorf("bad site: %d %q", code, e.Error)
	}
	if code := get(t, srv, "/api/v1/overview?site=shop&from=2026-11-12&to=2026-11-10", "tok", &e); code != 400 || e.Error != "from must be before to" {
		t.Errorf("reversed period: %d %q", code, e.Error)
	}
	// Days ClickHouse's DateTime cannot hold (a report's statement failed
	// with a 500), and filter values longer than any stored one.
	long := strings.Repeat("x", reports.MaxFilterValue+1)
	for _, path := range []string{
		"/api/v1/overview?site=shop&from=1969-12-30&to=1970-01-02",
		"/api/v1/breakdown?site=shop&from=0001-01-01&to=0001-01-05&by=page",
		"/api/v1/breakdown?site=shop&from=2106-02-06&to=2106-02-09&by=source",
		"/api/v1/breakdown?site=shop&by=source&filter=source==" + long,
		"/api/v1/breakdown?site=shop&by=source" + strings.Repeat("&filter=browser!="+long[:2000], 5),
	} {
		e.Error = ""
		if code := get(t, srv, path, "tok", &e); code != 400 || e.Error == "" {
			t.Errorf("%.120s: %d %q, want 400 and a reason", path, code, e.Error)
		}
	}
}

// TestOverviewExactOnSmallSites: 300 visitors, which a sketch estimates at
// 292, are counted exactly.
func TestOverviewExactOnSmallSites(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	at := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	var hits []stacktest.Hit
	for i := 0; i < 300; i++ {
		hits = append(hits, stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "many", event.Type: "pageview",
			event.VisitorID: fmt.Sprintf("m%d", i), event.URL: "https://shop.example/"}})
	}
	stacktest.Insert(t, store, hits...)
	if n := stacktest.Count(t, store, "SELECT uniqHLL12IfMerge(visitors_hll) FROM events_hourly WHERE site_id = 'many'"); n == 300 {
		t.Fatal("the sketch counts 300 exactly: the test would prove nothing")
	}
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var o api.Overview
	if code := get(t, srv, "/api/v1/overview?site=many&from=2026-11-10&to=2026-11-11", "tok", &o); code != 200 {
		t.Fatalf("status %d", code)
	}
	if o.Visitors != 300 || len(o.Pages) != 1 || o.Pages[0].Visitors != 300 || o.Sources[0].Visitors != 300 {
		t.Errorf("visitors %d, pages %+v, sources %+v; want 300 everywhere", o.Visitors, o.Pages, o.Sources)
	}
	var sum uint64
	for _, p := range o.Series {
		sum += p.Visitors
	}
	if sum != 300 {
		t.Errorf("series visitors add up to %d, want 300 (one hour)", sum)
	}
}
