package profiles

import (
	"context"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/tests/stacktest"
)

// TestDaysInSiteZone: days since the last order (and so the reactivation
// stage) and since last seen count the site's days. An order at 23:30 on
// 30 November in Paris (22:30 UTC) is a day old at 00:30 on 1 December
// there, and 0 days old in UTC, where both times are on 30 November.
func TestDaysInSiteZone(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 22, 30, 0, 0, time.UTC)
	f := map[event.Field]string{event.Site: "paris", event.VisitorID: "v", event.SessionID: "s", event.URL: "https://shop.example/thanks"}
	page, order := map[event.Field]string{}, map[event.Field]string{}
	for k, v := range f {
		page[k], order[k] = v, v
	}
	page[event.Type] = "pageview"
	order[event.Type], order[event.OrderID], order[event.Currency] = "purchase", "o1", "EUR"
	stacktest.Insert(t, store, stacktest.Hit{At: at.Add(-time.Minute), Fields: page}, stacktest.Hit{At: at, Fields: order, Revenue: 10_000_000})

	now := time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC) // 00:30 on Dec 1 in Paris
	for _, c := range []struct {
		zone        *time.Location
		days        int64
		stage, name string
	}{
		{paris, 1, "reactivation", "Paris"},
		{nil, 0, "conversion", "UTC"},
	} {
		q := &Query{Site: "paris", Now: now, Rules: Rules{LoyalOrders: 3, InactiveDays: 1, Zone: c.zone}, visitorSet: "('v')"}
		st, args, err := q.Statement()
		if err != nil {
			t.Fatal(err)
		}
		rows, err := store.DB().Query(context.Background(), st, args)
		if err != nil {
			t.Fatal(err)
		}
		var got []Person
		for rows.Next() {
			p, err := Scan(rows)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, p)
		}
		rows.Close()
		if len(got) != 1 || got[0].DaysOrdered != c.days || got[0].DaysSeen != c.days || got[0].Stage != c.stage {
			t.Errorf("%s: %+v, want days since the order and since last seen %d, stage %s", c.name, got, c.days, c.stage)
		}
	}
}
