package reports_test

import (
	"context"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/internal/reports"
	"footfall/tests/stacktest"
)

// TestUserVisitorsNotCounted: six buyers land from Bing and order in
// their session; the shop's server sends each order again with the
// customer's id only (visitor u:<id>, event.UserVisitorPrefix). Those
// pseudo-visitors are no visits: Bing has 6 visitors in the breakdown
// and the overview's top sources, and the overview's total is 6 (it was
// 12), from the events and from the rollups alike.
func TestUserVisitorsNotCounted(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	at := time.Date(2026, time.November, 10, 9, 0, 0, 0, time.UTC)
	var hits []stacktest.Hit
	for i, c := range []string{"1", "2", "3", "4", "5", "6"} {
		t0 := at.Add(time.Duration(i) * time.Minute)
		order := "O" + c
		hits = append(hits,
			stacktest.Hit{At: t0, Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview",
				event.VisitorID: "v" + c, event.SessionID: "s" + c, event.URL: "https://shop.example/", event.Referrer: "https://www.bing.com/"}},
			stacktest.Hit{At: t0.Add(10 * time.Second), Revenue: 50_000_000, Fields: map[event.Field]string{event.Site: "shop",
				event.Type: "purchase", event.VisitorID: "v" + c, event.SessionID: "s" + c, event.OrderID: order, event.Currency: "EUR",
				event.URL: "https://shop.example/thanks"}},
			stacktest.Hit{At: t0.Add(20 * time.Second), Revenue: 50_000_000, Ingest: event.IngestAPI, Fields: map[event.Field]string{
				event.Site: "shop", event.Type: "purchase", event.UserID: "cust" + c, event.OrderID: order, event.Currency: "EUR"}},
		)
	}
	stacktest.Insert(t, store, hits...)
	ctx := context.Background()
	q := reports.Query{Site: "shop", From: at.Truncate(24 * time.Hour), To: at.Truncate(24 * time.Hour).Add(24 * time.Hour)}
	if n := stacktest.Count(t, store, "SELECT uniqExact(visitor_id) FROM events WHERE visitor_id LIKE 'u:%'"); n != 6 {
		t.Fatalf("%d u: visitors stored, want 6 (the test's premise)", n)
	}
	tab, err := reports.Breakdown(ctx, store.DB(), q, "source", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tab.Rows {
		if r[1] != uint64(6) || r[0] != "bing" {
			t.Errorf("by source: %v, want bing with 6 visitors only", r)
		}
	}
	ov, err := reports.Overview(ctx, store.DB(), "shop", q.From, q.To, "day")
	if err != nil {
		t.Fatal(err)
	}
	if ov.Visitors != 6 {
		t.Errorf("overview: %d visitors, want 6", ov.Visitors)
	}
	for _, r := range ov.Sources {
		if r.Visitors != 6 {
			t.Errorf("overview's top sources: %+v, want 6 visitors", r)
		}
	}
}
