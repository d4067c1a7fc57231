package refresh_test

import (
	"context"
	"testing"
	"time"

	"footfall/internal/refresh"
	"footfall/tests/stacktest"
)

// TestRecordRefreshDropsOldDays: a refresh recorded for a site moves its
// watermark, and the days of a touched table that no refresh reads any
// more are dropped, while recent days stay.
func TestRecordRefreshDropsOldDays(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	w, err := refresh.Last(ctx, store.DB(), "people", "shop")
	if err != nil {
		t.Fatal(err)
	}
	if !w.Full {
		t.Fatal("a site never refreshed must be rebuilt whole")
	}
	old := w.Now.Add(-refresh.TouchedKeep - 3*24*time.Hour)
	b, err := store.DB().Driver().PrepareBatch(ctx, "INSERT INTO people_touched (site_id, visitor_id, touched_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{old, w.Now} {
		if err := b.Append("shop", "v1", at); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	if err := refresh.Record(ctx, store.DB(), "people", "shop", w, 1, "people_touched"); err != nil {
		t.Fatal(err)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM people_touched"); n != 1 {
		t.Errorf("people_touched keeps %d rows, want the recent one", n)
	}
	next, err := refresh.Last(ctx, store.DB(), "people", "shop")
	if err != nil {
		t.Fatal(err)
	}
	if next.Full || !next.Since.Equal(w.Now.Add(-refresh.TouchedSlack)) {
		t.Errorf("after a refresh: full %v since %v, want an incremental refresh since %v", next.Full, next.Since, w.Now.Add(-refresh.TouchedSlack))
	}
}
