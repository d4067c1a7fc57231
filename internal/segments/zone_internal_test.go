package segments

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// TestDaysInSiteZone: "in the last N days" is N of the site's days back,
// at the same time on its clock. At 12:00 on 29 March in Paris (10:00
// UTC, the day its clocks went forward), a purchase at 11:30 on 28 March
// (10:30 UTC) is older than a day there: yesterday's noon was 11:00 UTC.
// Counted as 24 hours (UTC's days), it is within the day.
func TestDaysInSiteZone(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 28, 10, 30, 0, 0, time.UTC)
	stacktest.Insert(t, store, stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "paris", event.Type: "purchase",
		event.VisitorID: "w", event.SessionID: "s", event.URL: "https://shop.example/thanks", event.OrderID: "o1", event.Currency: "EUR"},
		Revenue: 10_000_000})
	now := time.Date(2026, 3, 29, 10, 0, 0, 0, time.UTC)
	people := profiles.NewStore(store.DB(), profiles.DefaultRules)
	for _, c := range []struct {
		name string
		zone *time.Location
		want int
	}{{"Paris", paris, 0}, {"UTC", nil, 1}} {
		q := &profiles.Query{Site: "paris", Now: now, Rules: profiles.Rules{LoyalOrders: 3, InactiveDays: 90, Zone: c.zone}}
		cond, cargs, err := compile(q, "c1_", Condition{Field: "event", Value: json.RawMessage(`"purchase"`), Days: 1}, q.Now)
		if err == nil {
			err = q.Where(cond, cargs)
		}
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		err = people.WithVisitors(context.Background(), []string{"w"}, func(in profiles.Visitors) error {
			q.Of(in)
			st, args, err := q.Statement()
			if err != nil {
				return err
			}
			rows, err := store.DB().Query(context.Background(), st, args)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				n++
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != c.want {
			t.Errorf("%s: %d people bought in the last day, want %d", c.name, n, c.want)
		}
	}
}
