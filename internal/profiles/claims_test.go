package profiles

import (
	"context"
	"fmt"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/tests/stacktest"
)

// floodBrowsers is how many throw-away browsers claim Ann's address in
// TestClaimFloodDoesNotBlock: more than maxLinked, and more visitor ids
// than a statement can bind within ClickHouse's max_query_size (256 KiB,
// about 20,000 ids).
const floodBrowsers = 25_000

// TestClaimFloodDoesNotBlock: floodBrowsers throw-away browsers, each
// claiming Ann's address through the pixel (anyone can), block neither
// her export nor her erasure: the export lists every one of them and
// their events (it read them from its own table of identifiers; bound
// into its statements they passed max_query_size), and the erasure
// removes them all, leaving nothing of her or of them.
func TestClaimFloodDoesNotBlock(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	stacktest.Insert(t, store, stacktest.Hit{At: at, Ingest: event.IngestAPI, Fields: map[event.Field]string{
		event.Site: "shop", event.Type: "purchase", event.VisitorID: "ann-b1", event.UserID: "ann@flood.example",
		event.OrderID: "F-1", event.URL: "https://shop.example/"}, Revenue: 1})
	var hits []stacktest.Hit
	for i := 0; i < floodBrowsers; i++ {
		hits = append(hits, stacktest.Hit{At: at.Add(time.Minute), Ingest: event.IngestPixel, Fields: map[event.Field]string{
			event.Site: "shop", event.Type: "sign_up", event.VisitorID: fmt.Sprintf("eve-%d", i), event.UserID: "ann@flood.example",
			event.URL: "https://shop.example/account"}})
	}
	stacktest.Insert(t, store, hits...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := NewStore(store.DB(), DefaultRules)

	start := time.Now()
	x, err := s.Export(ctx, "shop", Ref{UserID: "ann@flood.example"})
	if err != nil {
		t.Fatalf("Ann's export: %v", err)
	}
	t.Logf("export of %d visitor ids, %d events: %v", len(x.Visitors), len(x.Events), time.Since(start))
	seen := map[string]bool{}
	for _, v := range x.Visitors {
		seen[v] = true
	}
	missing := 0
	for i := 0; i < floodBrowsers; i++ {
		if !seen[fmt.Sprintf("eve-%d", i)] {
			missing++
		}
	}
	if !seen["ann-b1"] || missing > 0 || len(x.Visitors) != floodBrowsers+1 {
		t.Errorf("export lists %d visitor ids (ann-b1: %v), %d of the %d claiming browsers missing", len(x.Visitors), seen["ann-b1"], missing, floodBrowsers)
	}
	if len(x.Events) != floodBrowsers+1 || x.Rows["events"] != floodBrowsers+1 {
		t.Errorf("export has %d events and counts %d rows of events, want %d", len(x.Events), x.Rows["events"], floodBrowsers+1)
	}
	if x.Profile.UserID != "ann@flood.example" {
		t.Errorf("export's profile is %q, want Ann's", x.Profile.UserID)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND startsWith(name, 'exporting_')"); n != 0 {
		t.Errorf("%d tables of identifiers left after the export", n)
	}

	start = time.Now()
	e, err := s.Erase(ctx, "shop", Ref{UserID: "ann@flood.example"})
	if err != nil {
		t.Fatalf("Ann's erasure: %v", err)
	}
	t.Logf("erasure of %d visitor ids: %v, rows %v", len(e.Visitors), time.Since(start), e.Rows)
	if len(e.Visitors) != floodBrowsers+1 || e.Rows["events"] != floodBrowsers+1 {
		t.Errorf("erasure took %d visitor ids and %d events, want %d of each", len(e.Visitors), e.Rows["events"], floodBrowsers+1)
	}
	for _, q := range []string{
		"SELECT count() FROM events WHERE site_id = 'shop'",
		"SELECT count() FROM identities WHERE site_id = 'shop'",
		"SELECT count() FROM visitor_profiles WHERE site_id = 'shop'",
		"SELECT count() FROM identity_claims WHERE site_id = 'shop'",
	} {
		if n := stacktest.Count(t, store, q); n != 0 {
			t.Errorf("%s: %d rows left after Ann's erasure", q, n)
		}
	}
}
