package reports_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/internal/reports"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// TestAttribution: every event of a session, and a visitor's orders sent
// without a session, are reported under what brought the visit: the
// session's landing, else the visitor's last non-direct landing of the 30
// days before. Before it, the order of a visitor who came from Google sat
// under (direct), the order event's own (empty) referrer.
//
//	g1  Nov 10 lands from Google, a second page, orders o1 (50) in the session
//	g2  Nov 10 lands from Google; the shop's server sends o2 (20) an hour later, visitor id only
//	g3  Nov 10 lands from Google; Nov 13 a direct session, orders o3 (30) in it
//	n1  Nov 10 lands from Google; Nov 14 a newsletter campaign's link, orders o4 (40);
//	    Nov 15 the server sends o5 (10)
//	a1  Nov 11 an affiliate's link from blog1.example, orders o6 (60); Nov 12 the server sends o7 (15)
//	a2  Nov 11 an affiliate's link without a referrer; Nov 12 a direct session, orders o8 (9)
//	d1  Nov 12 a direct session, orders o9 (5)
//	old Oct 3 lands from Google; Nov 5 (33 days later) a direct session, orders o10 (7): (direct)
func TestAttribution(t *testing.T) {
	store, q := attributionTraffic(t)
	// Columns: value, visitors, page views, sessions, events, orders, revenue.
	cases := []struct {
		by   string
		want [][]any
	}{
		{"source", [][]any{
			{"google", uint64(4), uint64(6), uint64(5), uint64(9), uint64(3), 100.},
			{"(direct)", uint64(3), uint64(4), uint64(4), uint64(7), uint64(3), 21.},
			{"blog1.example", uint64(1), uint64(1), uint64(1), uint64(3), uint64(2), 75.},
			{"newsletter", uint64(1), uint64(1), uint64(1), uint64(3), uint64(2), 50.},
		}},
		{"medium", [][]any{
			{"organic", uint64(4), uint64(6), uint64(5), uint64(9), uint64(3), 100.},
			{"(none)", uint64(3), uint64(4), uint64(4), uint64(7), uint64(3), 21.},
			{"email", uint64(1), uint64(1), uint64(1), uint64(3), uint64(2), 50.},
			{"referral", uint64(1), uint64(1), uint64(1), uint64(3), uint64(2), 75.},
		}},
		{"utm_campaign", [][]any{
			{"", uint64(8), uint64(11), uint64(10), uint64(19), uint64(8), 196.},
			{"black-friday", uint64(1), uint64(1), uint64(1), uint64(3), uint64(2), 50.},
		}},
		{"affiliate", [][]any{
			{"", uint64(6), uint64(9), uint64(8), uint64(16), uint64(7), 162.},
			{"blog2", uint64(1), uint64(2), uint64(2), uint64(3), uint64(1), 9.},
			{"blog1", uint64(1), uint64(1), uint64(1), uint64(3), uint64(2), 75.},
		}},
	}
	for _, c := range cases {
		tab, err := reports.Breakdown(context.Background(), store.DB(), q, c.by, 10)
		if err != nil {
			t.Fatalf("by %s: %v", c.by, err)
		}
		if !reflect.DeepEqual(tab.Rows, c.want) {
			t.Errorf("by %s: rows\n%v\nwant\n%v", c.by, tab.Rows, c.want)
		}
	}
}

// attributionTraffic stores TestAttribution's traffic (its comment) and
// returns the query of November 2026.
func attributionTraffic(t *testing.T) (*chstore.Store, reports.Query) {
	_, store := stacktest.ClickHouse(t)
	day := func(d, h, m int) time.Time { return time.Date(2026, time.November, d, h, m, 0, 0, time.UTC) }
	page := func(at time.Time, visitor, session, url, ref string) stacktest.Hit {
		return stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview",
			event.VisitorID: visitor, event.SessionID: session, event.URL: "https://shop.example" + url, event.Referrer: ref}}
	}
	// order is a purchase; session "" is one the shop's server sent.
	order := func(at time.Time, visitor, session, id string, euros int64) stacktest.Hit {
		f := map[event.Field]string{event.Site: "shop", event.Type: "purchase", event.VisitorID: visitor, event.OrderID: id, event.Currency: "EUR"}
		if session != "" {
			f[event.SessionID], f[event.URL] = session, "https://shop.example/thanks"
		}
		return stacktest.Hit{At: at, Fields: f, Revenue: euros * 1_000_000}
	}
	const google = "https://www.google.com/"
	stacktest.Insert(t, store,
		page(day(10, 9, 0), "g1", "g1a", "/", google),
		page(day(10, 9, 1), "g1", "g1a", "/p", "https://shop.example/"),
		order(day(10, 9, 5), "g1", "g1a", "o1", 50),
		page(day(10, 10, 0), "g2", "g2a", "/", google),
		order(day(10, 11, 0), "g2", "", "o2", 20),
		page(day(10, 12, 0), "g3", "g3a", "/", google),
		page(day(13, 12, 0), "g3", "g3b", "/", ""),
		order(day(13, 12, 5), "g3", "g3b", "o3", 30),
		page(day(10, 13, 0), "n1", "n1a", "/", google),
		page(day(14, 8, 0), "n1", "n1b", "/p?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday", ""),
		order(day(14, 8, 5), "n1", "n1b", "o4", 40),
		order(day(15, 8, 0), "n1", "", "o5", 10),
		page(day(11, 9, 0), "a1", "a1a", "/?aff=blog1", "https://blog1.example/post"),
		order(day(11, 9, 10), "a1", "a1a", "o6", 60),
		order(day(12, 9, 0), "a1", "", "o7", 15),
		page(day(11, 10, 0), "a2", "a2a", "/?aff=blog2", ""),
		page(day(12, 10, 0), "a2", "a2b", "/", ""),
		order(day(12, 10, 5), "a2", "a2b", "o8", 9),
		page(day(12, 11, 0), "d1", "d1a", "/", ""),
		order(day(12, 11, 5), "d1", "d1a", "o9", 5),
		page(time.Date(2026, time.October, 3, 9, 0, 0, 0, time.UTC), "old", "olda", "/", google),
		page(day(5, 9, 0), "old", "oldb", "/", ""),
		order(day(5, 9, 5), "old", "oldb", "o10", 7),
	)
	return store, reports.Query{Site: "shop", From: day(1, 0, 0), To: time.Date(2026, time.December, 1, 0, 0, 0, 0, time.UTC)}
}

// TestAttributedFilters: a filter on what brought the visit selects the
// events the breakdown by it counts under that value, in every report:
// source==google is the Google visitors' pages, carts and orders, server
// side orders included, not only their landings (before, the filter read
// each event's own referrer: an order has none). The overview's top
// sources count the same page views.
func TestAttributedFilters(t *testing.T) {
	store, q := attributionTraffic(t)
	ctx := context.Background()
	google := q
	google.Filters = []reports.Filter{{Dim: "source", Op: "==", Value: "google"}}
	tab, err := reports.Breakdown(ctx, store.DB(), google, "type", 10)
	if err != nil {
		t.Fatal(err)
	}
	// Columns: value, visitors, page views, sessions, events, orders, revenue.
	want := [][]any{
		{"pageview", uint64(4), uint64(6), uint64(5), uint64(6), uint64(0), 0.},
		{"purchase", uint64(3), uint64(0), uint64(2), uint64(3), uint64(3), 100.},
	}
	if !reflect.DeepEqual(tab.Rows, want) {
		t.Errorf("by type where source==google:\n%v\nwant\n%v", tab.Rows, want)
	}

	email := q
	email.Filters = []reports.Filter{{Dim: "medium", Op: "==", Value: "email"}}
	tab, err = reports.Breakdown(ctx, store.DB(), email, "utm_campaign", 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]any{{"black-friday", uint64(1), uint64(1), uint64(1), uint64(3), uint64(2), 50.}}; !reflect.DeepEqual(tab.Rows, want) {
		t.Errorf("by campaign where medium==email: %v, want %v", tab.Rows, want)
	}

	notGoogle := q
	notGoogle.Filters = []reports.Filter{{Dim: "source", Op: "!=", Value: "google"}, {Dim: "affiliate", Op: "^=", Value: "blog"}}
	tab, err = reports.Breakdown(ctx, store.DB(), notGoogle, "affiliate", 10)
	if err != nil {
		t.Fatal(err)
	}
	want = [][]any{
		{"blog2", uint64(1), uint64(2), uint64(2), uint64(3), uint64(1), 9.},
		{"blog1", uint64(1), uint64(1), uint64(1), uint64(3), uint64(2), 75.},
	}
	if !reflect.DeepEqual(tab.Rows, want) {
		t.Errorf("by affiliate where source!=google and affiliate^=blog: %v, want %v", tab.Rows, want)
	}

	ms, err := reports.ParseMetrics("orders,revenue,pageviews")
	if err != nil {
		t.Fatal(err)
	}
	series, err := reports.Series(ctx, store.DB(), google, "day", ms)
	if err != nil {
		t.Fatal(err)
	}
	days := map[int][]any{}
	for _, r := range series.Rows {
		if r[1] != uint64(0) || r[3] != uint64(0) {
			days[r[0].(time.Time).Day()] = r[1:]
		}
	}
	wantDays := map[int][]any{10: {uint64(2), 70., uint64(5)}, 13: {uint64(1), 30., uint64(1)}}
	if !reflect.DeepEqual(days, wantDays) {
		t.Errorf("daily orders, revenue and page views where source==google: %v, want %v", days, wantDays)
	}

	tr, err := reports.Overview(ctx, store.DB(), "shop", q.From, q.To, "day")
	if err != nil {
		t.Fatal(err)
	}
	wantTop := []reports.Row{{Key: "google", Visitors: 4, Views: 6}, {Key: "(direct)", Visitors: 3, Views: 4},
		{Key: "blog1.example", Visitors: 1, Views: 1}, {Key: "newsletter", Visitors: 1, Views: 1}}
	if !reflect.DeepEqual(tr.Sources, wantTop) {
		t.Errorf("overview's top sources %v, want %v", tr.Sources, wantTop)
	}
}
