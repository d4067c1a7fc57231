package money_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/money"
	"footfall/internal/orders"
	"footfall/tests/stacktest"
)

// ecb is the ECB's eurofxref-hist.csv layout, trailing commas and N/A
// included: Friday 6 November 2026, then Monday 9 (no rates at weekends).
const ecb = `Date,USD,JPY,BGN,CYP,GBP,
2026-11-09,1.1000,160.00,N/A,N/A,,
2026-11-06,1.0921,157.21,1.9558,N/A,,
`

func TestParseECB(t *testing.T) {
	rates, err := money.ParseECB(strings.NewReader(ecb))
	if err != nil {
		t.Fatal(err)
	}
	if len(rates) != 5 {
		t.Fatalf("%d rates: %+v", len(rates), rates)
	}
	if r := rates[3]; r.Currency != "JPY" || r.PerEUR != 157.21 || !r.Day.Equal(time.Date(2026, 11, 6, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("rates[3] = %+v", r)
	}
	// The daily file's layout.
	daily, err := money.ParseECB(strings.NewReader("Date, USD, JPY, \n6 November 2026, 1.0921, 157.21, \n"))
	if err != nil || len(daily) != 2 || daily[1].PerEUR != 157.21 || daily[1].Day.Day() != 6 {
		t.Errorf("daily layout: %+v, %v", daily, err)
	}
	for _, bad := range []string{"", "Day,USD\n2026-11-06,1\n", "Date,USD\n2026-11-06,-1\n", "Date,USD\n2026-11-06,abc\n",
		"Date,US\n2026-11-06,1\n", "Date,USD,USD\n2026-11-06,1,1\n", "Date,USD\n06/11/2026,1\n", "Date,USD\n2026-11-06,1,2\n", "Date,USD\n"} {
		if _, err := money.ParseECB(strings.NewReader(bad)); err == nil {
			t.Errorf("%q taken", bad)
		}
	}
}

var qConverted = chsql.New("money.test_converted", `SELECT `+orders.Revenue(orders.PairsOf(money.Amount(money.Days)))+`,
       arrayStringConcat(arraySort(groupArrayIf(concat(currency, ' ', toString(revenue_micros)), type = 'purchase' AND `+money.Missing(money.Days)+`)), ',')
FROM events WHERE site_id = @site AND time >= @from AND time < @to`)

// TestConvert: 5000 JPY and 10 EUR ordered on Sunday 8 November take
// Friday's rates (no rates at weekends): 31.804593 + 10 EUR, 34.733796 +
// 10.921 USD, micros rounded half up; in JPY the euros are 1572.1 JPY. A
// GBP order (no rate ever) and a USD order 8 days after the last USD
// rate are no revenue and are named as missing; an order in the reporting
// currency needs no rate, also on a day without any.
func TestConvert(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	rates, err := money.ParseECB(strings.NewReader(ecb))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := money.Load(ctx, store.DB(), rates); err != nil || n != 7 {
		t.Fatalf("load: %d rows, %v", n, err)
	}
	sunday := time.Date(2026, 11, 8, 23, 0, 0, 0, time.UTC)
	hit := func(at time.Time, order, cur string, micros int64) stacktest.Hit {
		return stacktest.Hit{At: at, Revenue: micros, Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase",
			event.VisitorID: "v" + order, event.OrderID: order, event.Currency: cur}}
	}
	stacktest.Insert(t, store, hit(sunday, "jp", "JPY", 5000_000_000), hit(sunday, "eu", "EUR", 10_000_000),
		hit(sunday, "gb", "GBP", 20_000_000), hit(sunday.AddDate(0, 0, 9), "late", "USD", 7_000_000))
	for _, c := range []struct {
		cur, to string
		want    int64
		missing string
	}{
		{"EUR", "", 41_804_593, "GBP 20000000"},
		{"USD", "", 45_654_796, "GBP 20000000"},
		{"JPY", "", 5000_000_000 + 1572_100_000, "GBP 20000000"},
		{"EUR", "late", 41_804_593, "GBP 20000000,USD 7000000"},
		{"USD", "late", 45_654_796 + 7_000_000, "GBP 20000000"},
		{"GBP", "", 20_000_000, "EUR 10000000,JPY 5000000000"}, // no GBP rate: only GBP counts
	} {
		to := sunday.Add(time.Hour)
		if c.to != "" {
			to = sunday.AddDate(0, 0, 10)
		}
		var got int64
		var missing string
		err := store.DB().QueryRow(ctx, qConverted, chsql.Args{"site": "shop", "currency": c.cur, "from": sunday.Add(-time.Hour), "to": to}).Scan(&got, &missing)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want || missing != c.missing {
			t.Errorf("in %s to %s: %d micros, missing %q; want %d, %q", c.cur, to, got, missing, c.want, c.missing)
		}
	}
}
