package reports_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/internal/reports"
	"footfall/tests/stacktest"
)

// TestBreakdownSketchesLargeSites: a breakdown of a site with
// exactBelow visitors or more in its period estimates visitors and
// sessions with the overview's sketches; below, it counts them exactly.
// 1,000 visitors, a session each, on one page: 1,000 and 1,000 exactly,
// within 3% sketched (uniqHLL12, about 1.6% off), and not 1,000 (the
// sketch's estimate for these ids, the same on every run and version).
func TestBreakdownSketchesLargeSites(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	day := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	var hits []stacktest.Hit
	for i := range 1000 {
		v := fmt.Sprintf("visitor-%04d", i)
		hits = append(hits, stacktest.Hit{At: day.Add(time.Duration(i) * time.Minute), Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview",
			event.VisitorID: v, event.SessionID: v + "-s", event.URL: "https://shop.example/a"}})
	}
	stacktest.Insert(t, store, hits...)
	q := reports.Query{Site: "shop", From: day, To: day.Add(48 * time.Hour)}
	row := func() (visitors, sessions uint64) {
		t.Helper()
		tb, err := reports.Breakdown(context.Background(), store.DB(), q, "page", 10)
		if err != nil || len(tb.Rows) != 1 {
			t.Fatalf("breakdown %v %v", tb.Rows, err)
		}
		return tb.Rows[0][1].(uint64), tb.Rows[0][3].(uint64)
	}
	if v, s := row(); v != 1000 || s != 1000 {
		t.Errorf("exact: %d visitors, %d sessions, want 1000 and 1000", v, s)
	}
	defer reports.SetExactBelow(500)()
	v, s := row()
	for _, n := range []uint64{v, s} {
		if n < 970 || n > 1030 || n == 1000 {
			t.Errorf("sketched: %d visitors, %d sessions, want within 3%% of 1000 and estimated", v, s)
		}
	}
}
