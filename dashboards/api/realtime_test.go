package api_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// TestRealtimePageviews: each top page of /api/v1/realtime carries its own
// page views, which add up to the total, not 0.
func TestRealtimePageviews(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	now := time.Now()
	var hits []stacktest.Hit

	add := func(site, typ, path, visitor string, times int, ago time.Duration) {
		for i := 0; i < times; i++ {

			hits = append(hits, stacktest.Hit{At: now.Add(-ago - time.Duration(i)*time.Second), Fields: map[event.Field]string{
				event.Site: site, event.Type: typ, event.VisitorID: visitor, event.SessionID: visitor + "s",
				event.URL: "https://rt.example" + path}})
		}
	}
	// 20 page views by 5 visitors in the last 30 minutes.
	add("rt", "pageview", "/a", "p1", 3, 5*time.Minute)
	add("rt", "pageview", "/a", "p2", 2, 6*time.Minute)
	add("rt", "pageview", "/a", "p3", 1, 7*time.Minute)
	add("rt", "pageview", "/b", "p1", 5, 8*time.Minute)
	add("rt", "pageview", "/b", "p4", 4, 9*time.Minute)
	add("rt", "pageview", "/c", "p5", 5, 10*time.Minute)
	// Neither counts as a page view of the last 30 minutes.
	add("rt", "add_to_cart", "/c", "p5", 2, 11*time.Minute)
	add("rt", "pageview", "/a", "old", 7, 45*time.Minute)
	add("other", "pageview", "/a", "p1", 3, 5*time.Minute)
	stacktest.Insert(t, store, hits...)
	refresh(t, store)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	var rt api.Realtime
	if code := get(t, srv, "/api/v1/realtime?site=rt", "tok", &rt); code != 200 {
		t.Fatalf("realtime: status %d", code)
	}
	if rt.Visitors != 5 || rt.Pageviews != 20 {
		t.Errorf("realtime totals %d visitors, %d page views; want 5 and 20", rt.Visitors, rt.Pageviews)
	}
	want := []api.Row{{Key: "/a", Visitors: 3, Views: 6}, {Key: "/b", Visitors: 2, Views: 9}, {Key: "/c", Visitors: 1, Views: 5}}
	if !reflect.DeepEqual(rt.Pages, want) {
		t.Errorf("realtime top pages %+v, want %+v", rt.Pages, want)
	}
}
