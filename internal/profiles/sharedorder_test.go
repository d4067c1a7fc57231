package profiles

import (
	"context"
	"slices"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/tests/stacktest"
)

// TestSharedOrderNumber: two people whose proven orders share an order
// number (two storefronts numbering from 1000) are not one person: Ann's
// export lists nothing of Bob, and her erasure leaves Bob's events. An
// order number one person alone has still links (Ann's refund with only
// her order id goes with her).
func TestSharedOrderNumber(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	order := func(visitor, user, id, url string) stacktest.Hit {
		return stacktest.Hit{At: at, Ingest: event.IngestAPI, Fields: map[event.Field]string{
			event.Site: "shop", event.Type: "purchase", event.VisitorID: visitor, event.UserID: user,
			event.OrderID: id, event.URL: url}, Revenue: 1}
	}
	stacktest.Insert(t, store,
		order("ann-web", "ann@orders.example", "1001", "https://shop.example/"),
		order("bob-pos", "bob@orders.example", "1001", "https://shop.example/pos"),
		order("bob-pos", "bob@orders.example", "1002", "https://shop.example/pos"),
		order("ann-web", "ann@orders.example", "A-7", "https://shop.example/"),
		order("refunds", "", "A-7", "https://shop.example/refund"),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := NewStore(store.DB(), DefaultRules)
	x, err := s.Export(ctx, "shop", Ref{UserID: "ann@orders.example"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(x.Identifiers.Visitors, "bob-pos") || slices.Contains(x.Identifiers.UserIDs, "bob@orders.example") {
		t.Errorf("Ann's export holds Bob: %+v", x.Identifiers)
	}
	if !slices.Contains(x.Identifiers.Visitors, "refunds") {
		t.Errorf("Ann's own order A-7 no longer links its refund: %+v", x.Identifiers)
	}
	if _, err := s.Erase(ctx, "shop", Ref{UserID: "ann@orders.example"}); err != nil {
		t.Fatal(err)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE user_id = 'bob@orders.example'"); n != 2 {
		t.Errorf("Bob, who shares only an order number with Ann, has %d events left, want 2", n)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id IN ('ann-web', 'refunds')"); n != 0 {
		t.Errorf("%d events of Ann left", n)
	}
}
