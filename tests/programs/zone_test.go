package programs_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	dashboards "footfall/dashboards/app"
	"footfall/internal/event"
	"footfall/internal/sites"
	"footfall/tests/stacktest"
)

// TestDashboardsSiteZone: the dashboards program reads each site's zone
// from the site registry. The demo site, in Europe/Paris, shows an order
// sent at 23:30 UTC on 30 November under 1 December (00:30 in Paris);
// once its zone is changed to UTC, the same order is under 30 November
// within seconds, with no restart: the rollups are re-bucketed at each
// query, so the past follows the site's zone as it is now.
func TestDashboardsSiteZone(t *testing.T) {
	ch, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	stacktest.Site(t, store, "demo", func(s *sites.Site) { s.TimeZone = "Europe/Paris" })
	at := time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC)
	f := map[event.Field]string{event.Site: "demo", event.Type: "purchase", event.VisitorID: "buyer", event.SessionID: "s1",
		event.URL: "https://shop.example/thanks", event.OrderID: "o1", event.Currency: "EUR"}
	page := map[event.Field]string{event.Site: "demo", event.Type: "pageview", event.VisitorID: "buyer", event.SessionID: "s1",
		event.URL: "https://shop.example/cart"}
	stacktest.Insert(t, store, stacktest.Hit{At: at.Add(-time.Minute), Fields: page}, stacktest.Hit{At: at, Fields: f, Revenue: 25_000_000})

	var dc dashboards.Config
	defaults(t, dc.RegisterFlags)
	dc.Listen, dc.Ops.Listen, dc.CH, dc.Token = "127.0.0.1:0", "127.0.0.1:0", ch, "tok"
	dash, err := dashboards.Start(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	defer dash.Shutdown(ctx)

	// Orders and page views per day, Nov 30 and Dec 1 in the site's zone.
	days := func() (orders, views [2]float64) {
		t.Helper()
		code, body := get(t, "http://"+dash.Addr()+"/api/v1/timeseries?site=demo&from=2026-11-30&to=2026-12-02&interval=day&metrics=orders,pageviews",
			"Authorization", "Bearer tok")
		var tab struct{ Rows [][]any }
		if err := json.Unmarshal([]byte(body), &tab); code != 200 || err != nil || len(tab.Rows) != 2 {
			t.Fatalf("timeseries: %d %s", code, body)
		}
		for i, r := range tab.Rows {
			orders[i], views[i] = r[1].(float64), r[2].(float64)
		}
		return
	}
	overviewDays := func() (views [2]uint64, first string) {
		t.Helper()
		code, body := get(t, "http://"+dash.Addr()+"/api/v1/overview?site=demo&from=2026-11-30&to=2026-12-02&interval=day", "Authorization", "Bearer tok")
		var o struct {
			Series []struct {
				Time      string
				Pageviews uint64
			}
		}
		if err := json.Unmarshal([]byte(body), &o); code != 200 || err != nil || len(o.Series) != 2 {
			t.Fatalf("overview: %d %s", code, body)
		}
		return [2]uint64{o.Series[0].Pageviews, o.Series[1].Pageviews}, o.Series[0].Time
	}
	if orders, views := days(); orders != [2]float64{0, 1} || views != [2]float64{0, 1} {
		t.Errorf("in Paris: orders %v, page views %v per day (Nov 30, Dec 1), want the order and its page under Dec 1", orders, views)
	}
	if views, first := overviewDays(); views != [2]uint64{0, 1} || first != "2026-11-30T00:00:00+01:00" {
		t.Errorf("overview in Paris: %v from %s, want [0 1] from 2026-11-30T00:00:00+01:00", views, first)
	}

	if _, err := sites.NewStore(store.DB()).Update(ctx, "demo", func(s *sites.Site) error { s.TimeZone = "UTC"; return nil }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3*sites.DefaultReload + 5*time.Second)
	for {
		orders, _ := days()
		if orders == [2]float64{1, 0} {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zone changed to UTC: orders per day still %v, want the order under Nov 30", orders)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if views, first := overviewDays(); views != [2]uint64{1, 0} || first != "2026-11-30T00:00:00Z" {
		t.Errorf("overview in UTC: %v from %s, want [1 0] from 2026-11-30T00:00:00Z", views, first)
	}
}
