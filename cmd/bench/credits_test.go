package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/tests/stacktest"
)

// qTestCredits lists every generated event with what its visit was
// credited to.
var qTestCredits = chsql.New("bench.test_credits", `SELECT visitor_id, toUnixTimestamp(time), type, url_path,
       visit_source, visit_medium, visit_utm_source, visit_utm_medium, visit_utm_campaign, visit_affiliate, visit_click_id
FROM events ORDER BY visitor_id, time, type, url_path, visit_source, visit_medium`)

// TestOwnCredits: the generated events credited with their own source
// (make bench-large's fill past 10M) are credited exactly as the
// processor's crediting credits them (the other sizes' fill).
func TestOwnCredits(t *testing.T) {
	ctx := context.Background()
	// Six inserts: visitors credited across batches, as in a real fill.
	defer func(b int) { fillBatch = b }(fillBatch)
	fillBatch = 5_000
	end := time.Now().UTC().Truncate(24 * time.Hour)
	from := end.Add(-30 * 24 * time.Hour)
	// list is each event's line: its time, visitor, type, page and
	// credits; and the visit sources credited.
	list := func(own bool) ([]string, map[string]bool) {
		_, store := stacktest.ClickHouse(t)
		// 30,000 events from 3,000 visitors, each back about ten times
		// over the month, in no order of time: the crediting's sessions,
		// returns and late events.
		if err := generate(ctx, store, 0, 30_000, from, end, own); err != nil {
			t.Fatal(err)
		}
		rows, err := store.DB().Query(ctx, qTestCredits, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		sources := map[string]bool{}
		for rows.Next() {
			var at uint32
			var visitor, typ, page string
			var credit [7]string
			if err := rows.Scan(&visitor, &at, &typ, &page, &credit[0], &credit[1], &credit[2], &credit[3], &credit[4], &credit[5], &credit[6]); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(at, visitor, typ, page, credit))
			sources[credit[0]] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out, sources
	}
	credited, sources := list(false)
	own, _ := list(true)
	if len(credited) != 30_000 || len(own) != 30_000 {
		t.Fatalf("%d and %d events stored, want 30000 each", len(credited), len(own))
	}
	for i := range credited {
		if credited[i] != own[i] {
			t.Fatalf("event %d: credited by the processor's rules %q, by its own source %q", i, credited[i], own[i])
		}
	}
	if len(sources) < 4 {
		t.Errorf("credited sources %v: want direct and several referrers, or the comparison says little", sources)
	}
}
