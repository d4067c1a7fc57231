package reports_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/internal/money"
	"footfall/internal/reports"
	"footfall/tests/stacktest"
)

// TestReportCurrency: an order of 5000 JPY and one of 10 EUR, on a
// Sunday, with the ECB's rates of the Friday before (JPY 157.21, USD
// 1.0921): the breakdown, the series and the affiliates report show 41.80
// EUR for a site reporting in euros (not 5010), 45.65 for one in dollars;
// a GBP order, for which no rate was loaded, counts as an order, adds
// nothing and is listed under unconverted with its own amount.
func TestReportCurrency(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	db := stacktest.Reader(t, store)
	ctx := context.Background()
	rates, err := money.ParseECB(strings.NewReader("Date,USD,JPY,\n2026-11-06,1.0921,157.21,\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := money.Load(ctx, store.DB(), rates); err != nil {
		t.Fatal(err)
	}
	sunday := time.Date(2026, 11, 8, 10, 0, 0, 0, time.UTC)
	var hits []stacktest.Hit
	for i, o := range []struct {
		cur    string
		micros int64
	}{{"JPY", 5000_000_000}, {"EUR", 10_000_000}, {"GBP", 20_000_000}} {
		v := "v" + o.cur
		at := sunday.Add(time.Duration(i) * time.Minute)
		hits = append(hits,
			stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview", event.VisitorID: v, event.SessionID: "s" + v,
				event.URL: "https://shop.example/?aff=blog1"}},
			stacktest.Hit{At: at.Add(time.Second), Revenue: o.micros, Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase",
				event.VisitorID: v, event.SessionID: "s" + v, event.OrderID: "o" + o.cur, event.Currency: o.cur, event.URL: "https://shop.example/thanks"}})
	}
	stacktest.Insert(t, store, hits...)
	gbp := []money.Unconverted{{Currency: "GBP", Orders: 1, Amount: 20}}
	for cur, want := range map[string]float64{"EUR": 41.8, "USD": 45.65, "": 41.8} {
		q := reports.Query{Site: "shop", From: sunday.Add(-time.Hour), To: sunday.Add(time.Hour), Currency: cur}
		tab, err := reports.Breakdown(ctx, db, q, "type", 10)
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, c := range tab.Columns {
			col[c] = i
		}
		var got any
		for _, r := range tab.Rows {
			if r[0] == "purchase" {
				got = r[col["revenue"]]
				if r[col["orders"]] != uint64(3) {
					t.Errorf("%s: orders %v, want 3", cur, r[col["orders"]])
				}
			}
		}
		if got != want || !reflect.DeepEqual(tab.Unconverted, gbp) || (cur != "" && tab.Currency != cur) {
			t.Errorf("breakdown in %q: revenue %v in %s, unconverted %+v; want %v and %+v", cur, got, tab.Currency, tab.Unconverted, want, gbp)
		}
		ser, err := reports.Series(ctx, db, q, "day", []reports.Metric{reports.Revenue, reports.Orders})
		if err != nil {
			t.Fatal(err)
		}
		if len(ser.Rows) != 1 || ser.Rows[0][1] != want || !reflect.DeepEqual(ser.Unconverted, gbp) {
			t.Errorf("series in %q: %v, unconverted %+v; want %v", cur, ser.Rows, ser.Unconverted, want)
		}
		aff, err := reports.Affiliates(ctx, db, q, 30, reports.Commission{Default: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		if len(aff.Rows) != 1 || aff.Rows[0][5] != want || !reflect.DeepEqual(aff.Unconverted, gbp) {
			t.Errorf("affiliates in %q: %v, unconverted %+v; want revenue %v", cur, aff.Rows, aff.Unconverted, want)
		}
	}
}
