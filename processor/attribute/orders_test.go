package attribute_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// TestOneCreditPerOrder: the browser's and the shop's server's copies of
// one order (one order_id) sit under one source, whichever arrives first,
// in one batch or two, from a processor that remembers the first copy or
// one that reads it from ClickHouse; the breakdown of orders by source
// then counts each order once.
func TestOneCreditPerOrder(t *testing.T) {
	for _, cold := range []bool{false, true} {
		name := "remembered"
		if cold {
			name = "read from ClickHouse"
		}
		t.Run(name, func(t *testing.T) {
			_, store := stacktest.ClickHouse(t)
			next := func() *chstore.Store {
				if cold {
					return chstore.On(store.DB())
				}
				return store
			}
			t0 := time.Now().UTC().Truncate(time.Second).Add(-48 * time.Hour)
			at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
			// The buyers landed from Google; their server-side copies come
			// with the customer's id only (visitor u:<id>, no landing) or,
			// for c, with the visitor id in a later direct session of hers
			// that came from a newsletter meanwhile.
			insert(t, store,
				ev{at: at(0), visitor: "a", session: "a1", url: "/", ref: google},
				ev{at: at(0), visitor: "b", session: "b1", url: "/", ref: google},
				ev{at: at(0), visitor: "c", session: "c1", url: "/", ref: google},
				ev{at: at(0), visitor: "d", session: "d1", url: "/", ref: google},
			)
			// a: the browser's copy first, the server's in a later batch.
			insert(t, next(), ev{at: at(1), visitor: "a", session: "a1", typ: "purchase", url: "/thanks", order: "A1"})
			insert(t, next(), ev{at: at(2), visitor: "u:cust-a", typ: "purchase", order: "A1"})
			// b: the server's copy first (credited direct: u:cust-b has no
			// landing), the browser's later, in b's session from Google:
			// the session's credit wins, and the server's copy written
			// before takes it too (an update of its row).
			insert(t, next(), ev{at: at(1), visitor: "u:cust-b", typ: "purchase", order: "B1"})
			insert(t, next(), ev{at: at(2), visitor: "b", session: "b1", typ: "purchase", url: "/thanks", order: "B1"})
			// c: both in one batch, in either order: the copy in a session.
			for _, swap := range []bool{false, true} {
				order := "C1"
				if swap {
					order = "C2"
				}
				batch := []ev{
					{at: at(3), visitor: "c", session: "c1", typ: "purchase", url: "/thanks", order: order},
					{at: at(3), visitor: "u:cust-c", typ: "purchase", order: order},
				}
				if swap {
					batch[0], batch[1] = batch[1], batch[0]
				}
				insert(t, next(), batch...)
			}
			// d: the server's copy with d's own visitor id after a
			// newsletter visit of d's: the rule alone would credit it to
			// the newsletter, the browser's copy (written first) to Google.
			insert(t, next(), ev{at: at(4), visitor: "d", session: "d1", typ: "purchase", url: "/thanks", order: "D1"})
			insert(t, next(), ev{at: at(30), visitor: "d", session: "d2", url: "/?utm_source=newsletter&utm_medium=email"})
			insert(t, next(), ev{at: at(31), visitor: "d", typ: "purchase", order: "D1"})

			for _, c := range []struct {
				visitor, session string
				at               time.Time
				want             string
			}{
				{"a", "a1", at(1), "google / organic"},
				{"u:cust-a", "", at(2), "google / organic"},
				{"u:cust-b", "", at(1), "google / organic"},
				{"b", "b1", at(2), "google / organic"},
				{"u:cust-c", "", at(3), "google / organic"},
				{"d", "", at(31), "google / organic"},
				{"d", "d2", at(30), "newsletter / email"},
			} {
				got := credited(t, store, c.visitor, c.session, c.at)
				// The update of a copy written before is a mutation,
				// which ClickHouse applies in the background.
				for deadline := time.Now().Add(10 * time.Second); got != c.want && time.Now().Before(deadline); {
					time.Sleep(100 * time.Millisecond)
					got = credited(t, store, c.visitor, c.session, c.at)
				}
				if got != c.want {
					t.Errorf("%s %q at %s: credited to %q, want %q", c.visitor, c.session, c.at.Sub(t0), got, c.want)
				}
			}
			// purchases, the breakdowns' copy of the purchase events
			// (migration 0032), took the same credits: the update of the
			// copy written before too.
			credits := func(table string) string {
				var got string
				if err := store.DB().Driver().QueryRow(context.Background(), `SELECT toString(arraySort(groupArray((toString(event_id),
    visit_source, visit_medium)))) FROM `+table+` WHERE type = 'purchase'`).Scan(&got); err != nil {
					t.Fatal(err)
				}
				return got
			}
			want := credits("events")
			got := credits("purchases")
			for deadline := time.Now().Add(10 * time.Second); got != want && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
				got = credits("purchases")
			}
			if got != want || !strings.Contains(got, "google") {
				t.Errorf("purchases' credits\n%s\nwant the events'\n%s", got, want)
			}
			// Every order under one source: the sources' orders add up to
			// the orders.
			if n := stacktest.Count(t, store, `SELECT sum(n) FROM (SELECT visit_source, uniqExact(order_id) AS n FROM events
WHERE type = 'purchase' GROUP BY visit_source)`); n != 5 {
				t.Errorf("orders by source add up to %d, want 5 (A1, B1, C1, C2, D1)", n)
			}
		})
	}
}
