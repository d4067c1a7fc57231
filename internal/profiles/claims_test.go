package profiles

import (
	"context"
	"fmt"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/tests/stacktest"
)

// TestClaimFloodDoesNotBlock: maxLinked+1 throw-away browsers, each
// claiming Ann's address through the pixel (anyone can), do not block
// her erasure, and the erasure removes her rows. (Her export of so many
// browsers is still refused by the size of its statements: not done.)
func TestClaimFloodDoesNotBlock(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	stacktest.Insert(t, store, stacktest.Hit{At: at, Ingest: event.IngestAPI, Fields: map[event.Field]string{
		event.Site: "shop", event.Type: "purchase", event.VisitorID: "ann-b1", event.UserID: "ann@flood.example",
		event.OrderID: "F-1", event.URL: "https://shop.example/"}, Revenue: 1})
	var hits []stacktest.Hit
	for i := 0; i <= maxLinked; i++ {
		hits = append(hits, stacktest.Hit{At: at.Add(time.Minute), Ingest: event.IngestPixel, Fields: map[event.Field]string{
			event.Site: "shop", event.Type: "sign_up", event.VisitorID: fmt.Sprintf("eve-%d", i), event.UserID: "ann@flood.example",
			event.URL: "https://shop.example/account"}})
	}
	stacktest.Insert(t, store, hits...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := NewStore(store.DB(), DefaultRules)
	if _, err := s.Erase(ctx, "shop", Ref{UserID: "ann@flood.example"}); err != nil {
		t.Fatalf("Ann's erasure: %v", err)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'ann-b1' OR user_id = 'ann@flood.example'"); n != 0 {
		t.Errorf("%d events of Ann left after her erasure", n)
	}
}
