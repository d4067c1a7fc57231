package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// Zones whose clocks jump at midnight: on 6 September 2026 Santiago's day
// begins at 01:00, on 24 April 2026 Cairo's does. One page view at 12:00
// local each day must give one step of 1 per day, the days after the
// change included (they read 0 when every step after it was 23:00 or
// 01:00 instead of the day's start).
func TestMidnightSkippedDays(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	sant, _ := time.LoadLocation("America/Santiago")
	cai, _ := time.LoadLocation("Africa/Cairo")
	zones := map[string]*time.Location{"sant": sant, "cai": cai}
	n := 0
	var hits []stacktest.Hit
	page := func(site string, at time.Time) {
		n++
		hits = append(hits, stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: site, event.Type: "pageview",
			event.VisitorID: fmt.Sprintf("v%d", n), event.SessionID: fmt.Sprintf("s%d", n), event.URL: "https://shop.example/x"}})
	}
	for d := 2; d <= 12; d++ {
		page("sant", time.Date(2026, 9, d, 12, 0, 0, 0, sant))
	}
	for d := 21; d <= 27; d++ {
		page("cai", time.Date(2026, 4, d, 12, 0, 0, 0, cai))
	}
	stacktest.Insert(t, store, hits...)
	refresh(t, store)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules,
		Zone: func(site string) *time.Location { return zones[site] }, Now: func() time.Time { return time.Date(2026, 9, 9, 15, 0, 0, 0, time.UTC) }}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		site, from, to string
		days           int
	}{
		{"sant", "2026-09-02", "2026-09-13", 11},
		{"sant", "2026-09-06", "2026-09-08", 2},
		{"cai", "2026-04-23", "2026-04-27", 4},
		{"cai", "2026-04-21", "2026-04-28", 7},
	} {
		loc := zones[c.site]
		p := "/api/v1/timeseries?site=" + c.site + "&interval=day&metrics=pageviews&from=" + c.from + "&to=" + c.to
		rows := seriesRows(t, srv, p)
		if len(rows) != c.days {
			t.Errorf("%s: %d steps, want %d: %v", p, len(rows), c.days, rows)
			continue
		}
		first, _ := time.Parse(time.DateOnly, c.from) // a date, not an instant
		for i, r := range rows {
			day := first.AddDate(0, 0, i).Format(time.DateOnly)
			at, err := time.Parse(time.RFC3339, fmt.Sprint(r[0]))
			if err != nil || at.In(loc).Format(time.DateOnly) != day || r[1].(float64) != 1 {
				t.Errorf("%s: step %d is %v, want %s with 1 page view", p, i, r, day)
			}
		}
		var o api.Overview
		if code := get(t, srv, "/api/v1/overview?site="+c.site+"&interval=day&from="+c.from+"&to="+c.to, "tok", &o); code != 200 {
			t.Fatalf("overview: %d", code)
		}
		if len(o.Series) != c.days || o.Pageviews != uint64(c.days) {
			t.Errorf("overview %s %s..%s: %d page views in %d steps, want %d", c.site, c.from, c.to, o.Pageviews, len(o.Series), c.days)
		}
		for _, s := range o.Series {
			if s.Pageviews != 1 {
				t.Errorf("overview %s: %s has %d page views, want 1", c.site, s.Time.In(loc).Format(time.RFC3339), s.Pageviews)
			}
		}
	}
}
