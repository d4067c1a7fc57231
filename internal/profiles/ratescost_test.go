package profiles

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"footfall/internal/event"
	"footfall/internal/money"
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
	rates, err := money.ParseECB(strings.NewReader("Date,USD,JPY,\n2026-11-06,1.0921,157.21,\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := money.Load(ctx, store.DB(), rates); err != nil {
		t.Fatal(err)
	}
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
		tagged := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"log_queries": 1, "interactive_delay": tag}))
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
		var marks, n uint64
		for try := 0; try < 40; try++ {
			if r, err := store.DB().Driver().Query(ctx, "SYSTEM FLUSH LOGS"); err == nil {
				r.Close()
			}
			err := store.DB().Driver().QueryRow(ctx, `SELECT toUInt64(sum(ProfileEvents.Values[indexOf(ProfileEvents.Names, 'SelectedMarks')])), count() FROM system.query_log
				WHERE event_date >= yesterday() AND type = 2 AND Settings.Values[indexOf(Settings.Names, 'interactive_delay')] = ?`,
				strconv.Itoa(tag)).Scan(&marks, &n)
			if err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if n == 0 {
			t.Fatalf("%s: the statement is not in system.query_log", step)
		}
		return marks
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
