package profiles

import (
	"context"
	"strconv"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/tests/stacktest"
)

// TestRefreshRatesReadTheirOrders: converting a few people's orders reads
// the rates of those orders' currencies and days, not of the site's
// purchases of all time. The people of one buyer are computed as a
// refresh computes them, on a site with 4,000 other buyers and then with
// 20,000: what ClickHouse reads for it (the marks its statement and its
// scalar subqueries select, system.query_log's SelectedMarks; read_rows
// leaves the subqueries out) does not grow with the other buyers (it grew with them when the rate table
// was chosen from every purchase of the site in events), and the buyer's
// revenue is converted alike (5000 JPY on a Saturday: Friday's 157.21,
// 31.80 EUR).
func TestRefreshRatesReadTheirOrders(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	loadECB(t, store, "Date,USD,JPY,\n2026-11-06,1.0921,157.21,\n")
	saturday := time.Date(2026, 11, 7, 12, 0, 0, 0, time.UTC)
	buy := func(from, to int) {
		hits := make([]stacktest.Hit, 0, to-from)
		for i := from; i < to; i++ {
			cur := []string{"JPY", "USD", "EUR"}[i%3]
			hits = append(hits, stacktest.Hit{At: saturday.Add(-time.Duration(i) * time.Minute), Revenue: 5000_000_000,
				Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase", event.VisitorID: "b" + strconv.Itoa(i),
					event.OrderID: "o" + strconv.Itoa(i), event.Currency: cur}})
		}
		stacktest.Insert(t, store, hits...)
	}
	s := NewStore(store.DB(), DefaultRules)
	tag := 900_000 + int(time.Now().UnixNano()%90_000)
	cost := func(step string) uint64 {
		tag++
		tagged := testTagged(ctx, tag)
		var got []Person
		err := s.WithVisitors(ctx, []string{"b0"}, func(in Visitors) error {
			q := s.Query("shop")
			q.visitorSet = in.SQL()
			sql, args, err := q.SQL()
			if err != nil {
				return err
			}
			rows, err := s.db.Query(tagged, qTestPeople.With(map[string]string{"people": sql}), args)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				p, err := Scan(rows)
				if err != nil {
					return err
				}
				got = append(got, p)
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Orders != 1 || got[0].Revenue != 31.804593 {
			t.Fatalf("%s: people of b0: %+v; want one order of 31.80 EUR", step, got)
		}
		return loggedMarks(t, store, tag, "%")
	}
	buy(0, 4_000)
	few := cost("4,000 buyers")
	buy(4_000, 20_000)
	many := cost("20,000 buyers")
	t.Logf("marks selected for one buyer's people: %d with 4,000 buyers, %d with 20,000", few, many)
	if many > few*3/2 {
		t.Errorf("one buyer's people selected %d marks with 4,000 buyers on the site and %d with 20,000: the rates follow the site's purchases, not the orders converted", few, many)
	}
}
