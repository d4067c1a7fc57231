package reports_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/money"
	"footfall/internal/reports"
	"footfall/tests/stacktest"
)

var (
	qTestRevenueCost = chsql.New("reports.test_revenue_cost", `SELECT `+reports.Revenue.Events+`
FROM events WHERE site_id = @site AND time >= @from AND time < @to`)
	qTestOrdersCost = chsql.New("reports.test_orders_cost", `SELECT `+reports.Orders.Events+`
FROM events WHERE site_id = @site AND time >= @from AND time < @to`)
)

// TestRevenueCostsItsOrders: the revenue converts each order at the rate
// of its day once the events are grouped, not each event, and reads the
// period's events once, as the order count does. Over 20,000 page views
// and one order of 5000 JPY, read in blocks of 100 rows (200 blocks),
// the revenue's statement executes at most 8 functions a block more than
// the order count's (system.query_log's FunctionExecute: gathering each
// purchase's currency and day is about 4 a block, a rate looked up per
// event was about 17), and
// selects as many marks of the events, give or take the rate table's
// (SelectedMarks: a rate table narrowed to the period's purchases read
// the events again for each copy). The revenue is 31.80 EUR.
func TestRevenueCostsItsOrders(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	rates, err := money.ParseECB(strings.NewReader("Date,USD,JPY,\n2026-11-06,1.0921,157.21,\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := money.Load(ctx, store.DB(), rates); err != nil {
		t.Fatal(err)
	}
	saturday := time.Date(2026, 11, 7, 0, 0, 0, 0, time.UTC)
	hits := []stacktest.Hit{{At: saturday.Add(time.Hour), Revenue: 5000_000_000, Fields: map[event.Field]string{event.Site: "shop",
		event.Type: "purchase", event.VisitorID: "buyer", event.OrderID: "o1", event.Currency: "JPY"}}}
	for i := 0; i < 20_000; i++ {
		hits = append(hits, stacktest.Hit{At: saturday.Add(time.Duration(i) * time.Second), Fields: map[event.Field]string{event.Site: "shop",
			event.Type: "pageview", event.VisitorID: "v" + strconv.Itoa(i%500), event.URL: "https://shop.example/p/" + strconv.Itoa(i%50)}})
	}
	stacktest.Insert(t, store, hits...)
	args := chsql.Args{"site": "shop", "from": saturday, "to": saturday.Add(24 * time.Hour), "currency": "EUR"}
	tag := 700_000 + int(time.Now().UnixNano()%90_000)
	cost := func(q *chsql.Query) (result int64, functions, marks uint64) {
		tag++
		tagged := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"log_queries": 1, "interactive_delay": tag, "max_block_size": 100}))
		var v any
		if q == qTestRevenueCost {
			var r int64
			v = &r
			defer func() { result = r }()
		} else {
			var n uint64
			v = &n
			defer func() { result = int64(n) }()
		}
		a := args
		if q == qTestOrdersCost {
			a = chsql.Args{"site": args["site"], "from": args["from"], "to": args["to"]}
		}
		if err := store.DB().QueryRow(tagged, q, a).Scan(v); err != nil {
			t.Fatal(err)
		}
		var n uint64
		for try := 0; try < 40 && n == 0; try++ {
			if r, err := store.DB().Driver().Query(ctx, "SYSTEM FLUSH LOGS"); err == nil {
				r.Close()
			}
			err := store.DB().Driver().QueryRow(ctx, `SELECT toUInt64(sum(ProfileEvents.Values[indexOf(ProfileEvents.Names, 'FunctionExecute')])),
				toUInt64(sum(ProfileEvents.Values[indexOf(ProfileEvents.Names, 'SelectedMarks')])), count() FROM system.query_log
				WHERE event_date >= yesterday() AND type = 2 AND Settings.Values[indexOf(Settings.Names, 'interactive_delay')] = ?`,
				strconv.Itoa(tag)).Scan(&functions, &marks, &n)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				time.Sleep(250 * time.Millisecond)
			}
		}
		if n == 0 {
			t.Fatal("the statement is not in system.query_log")
		}
		return result, functions, marks
	}
	revenue, revFunctions, revMarks := cost(qTestRevenueCost)
	orders, ordFunctions, ordMarks := cost(qTestOrdersCost)
	t.Logf("revenue %d: %d functions, %d marks; orders %d: %d functions, %d marks", revenue, revFunctions, revMarks, orders, ordFunctions, ordMarks)
	if revenue != 31_804_593 || orders != 1 {
		t.Errorf("revenue %d micros, %d orders; want 31804593 (5000 JPY at 157.21) and 1", revenue, orders)
	}
	if revFunctions > ordFunctions+8*200 {
		t.Errorf("the revenue executed %d functions, the order count %d, over 200 blocks of events: the rates are looked up per event", revFunctions, ordFunctions)
	}
	if revMarks > 2*ordMarks+40 {
		t.Errorf("the revenue selected %d marks, the order count %d: the rate table reads the events again", revMarks, ordMarks)
	}
}
