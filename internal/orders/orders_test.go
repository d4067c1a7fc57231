package orders_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/orders"
	"footfall/tests/stacktest"
)

var qFigures = chsql.New("orders.test_figures", `SELECT `+orders.Count(orders.Pairs)+`, `+orders.Revenue(orders.Pairs)+`
FROM events WHERE site_id = @site`)

// TestFigures: an order sent again counts once, at the largest amount sent
// for it (a copy without its amount never hides it); purchases without an
// order id are each an order; revenue on other events is no revenue; no
// purchase is no order. The statement runs on both ClickHouse versions in
// the current-ClickHouse check.
func TestFigures(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	at := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	hit := func(typ, order string, micros int64) stacktest.Hit {
		at = at.Add(time.Second)
		f := map[event.Field]string{event.Site: "shop", event.Type: typ, event.VisitorID: "v", event.Currency: "EUR"}
		if order != "" {
			f[event.OrderID] = order
		}
		return stacktest.Hit{At: at, Fields: f, Revenue: micros}
	}
	stacktest.Insert(t, store,
		hit("purchase", "o1", 10_000_000), hit("purchase", "o1", 10_000_000), hit("purchase", "o1", 0),
		hit("purchase", "o2", 5_000_000), hit("purchase", "o2", 7_000_000),
		hit("purchase", "", 3_000_000), hit("purchase", "", 3_000_000),
		hit("pageview", "", 100_000_000),
	)
	for site, want := range map[string][2]int64{"shop": {4, 23_000_000}, "none": {0, 0}} {
		var n uint64
		var revenue int64
		if err := store.DB().QueryRow(context.Background(), qFigures, chsql.Args{"site": site}).Scan(&n, &revenue); err != nil {
			t.Fatal(err)
		}
		if int64(n) != want[0] || revenue != want[1] {
			t.Errorf("%s: %d orders, %d micros; want %d and %d", site, n, revenue, want[0], want[1])
		}
	}
}

// TestRevenueDoesNotWrap: a site's revenue beyond what an Int64 of micros
// holds reads as Int64's bound, never wrapped round to a negative figure
// (ten orders of 999,999,999,999 EUR, as a collector before the bound on
// amounts took them, summed to -8,446,744,073,719.55); refunds alike the
// other way; below the bounds the sum is exact. The example, and
// 9,224 orders at the most the collector now takes for one.
func TestRevenueDoesNotWrap(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	at := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	var hits []stacktest.Hit
	add := func(site string, n int, micros int64) {
		for range n {
			at = at.Add(time.Second)
			hits = append(hits, stacktest.Hit{At: at, Revenue: micros, Fields: map[event.Field]string{
				event.Site: site, event.Type: "purchase", event.VisitorID: "v", event.Currency: "EUR",
				event.OrderID: fmt.Sprintf("o%d", len(hits))}})
		}
	}
	add("forged", 10, 999_999_999_999_000_000)
	add("refunds", 10, -999_999_999_999_000_000)
	add("bound", 9_224, event.MaxAmountMicros)
	add("exact", 3, event.MaxAmountMicros)
	add("exact", 1, 1)
	stacktest.Insert(t, store, hits...)
	for site, want := range map[string]int64{
		"forged": orders.MaxMicros, "refunds": orders.MinMicros, "bound": orders.MaxMicros,
		"exact": 3*event.MaxAmountMicros + 1, "none": 0,
	} {
		var n uint64
		var revenue int64
		if err := store.DB().QueryRow(context.Background(), qFigures, chsql.Args{"site": site}).Scan(&n, &revenue); err != nil {
			t.Fatal(err)
		}
		if revenue != want {
			t.Errorf("%s: %d orders, %d micros; want %d", site, n, revenue, want)
		}
	}
	// What the README says: 9,223 orders at the most fit, 9,224 do not.
	if max := int64(orders.MaxMicros); max/event.MaxAmountMicros != 9_223 {
		t.Errorf("%d orders at the bound fit an Int64", max/event.MaxAmountMicros)
	}
}

// TestStoredPairs: the per-visitor pairs visitor_profiles keeps, which the
// profiles read, are made by the latest view with the same Pair.
func TestStoredPairs(t *testing.T) {
	ms, err := chsql.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var view string
	for _, m := range ms {
		for _, s := range m.Statements {
			if strings.Contains(s.SQL(), "CREATE MATERIALIZED VIEW IF NOT EXISTS visitor_profiles_mv") {
				view = s.SQL()
			}
		}
	}
	if want := "groupUniqArrayIfState(" + orders.Pair + ", type = 'purchase') AS order_revenue"; !strings.Contains(view, want) {
		t.Errorf("visitor_profiles_mv does not keep %s:\n%s", want, view)
	}
}
