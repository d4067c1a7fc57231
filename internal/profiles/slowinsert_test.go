package profiles

import (
	"context"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/tests/stacktest"
)

// qTestSlowInsert is an insert of one of the person's events that the
// server takes 3 s to finish: a batch (or a refresh of the people table)
// on its way when the erasure writes its tombstones.
var qTestSlowInsert = chsql.New("profiles.test_slow_insert", `INSERT INTO events (event_id, time, site_id, type, visitor_id, url)
SELECT toUUID('0d6c1f7a-3b1e-4c2d-9e8f-000000000001'), now(), 'shop', 'pageview', @visitor, 'https://shop.example/slow' FROM system.one WHERE sleep(3) = 0`)

// TestSlowInsertDuringErasure: an insert of the person's rows begun before
// the erasure wrote its tombstones, and slower than the erasure's look
// again after two tombstone syncs, is waited for and its rows erased:
// nothing of the person is left once the erasure answered.
func TestSlowInsertDuringErasure(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	stacktest.Insert(t, store, stacktest.Hit{At: at, Ingest: event.IngestAPI, Fields: map[event.Field]string{
		event.Site: "shop", event.Type: "purchase", event.VisitorID: "ann-slow-v1", event.UserID: "ann@slow.example",
		event.OrderID: "S-1", event.URL: "https://shop.example/"}, Revenue: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- store.DB().Exec(ctx, qTestSlowInsert, chsql.Args{"visitor": "ann-slow-v1"}) }()
	s := NewStore(store.DB(), DefaultRules)
	for {
		var n uint64
		st := qInsertsBefore.With(map[string]string{"processes": store.DB().System("processes")})
		if err := store.DB().QueryRow(ctx, st, chsql.Args{"since": 0.0}).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	e, err := s.Erase(ctx, "shop", Ref{UserID: "ann@slow.example"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("erasure took %v, rows %v", time.Since(start), e.Rows)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'ann-slow-v1'"); n != 0 {
		t.Errorf("%d events of the erased visitor inserted after the erasure answered", n)
	}
}
