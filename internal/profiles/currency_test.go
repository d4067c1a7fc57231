package profiles

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/money"
	"footfall/tests/stacktest"
)

// TestLoyalRevenueConverted: the loyal rule reads revenue in the site's
// currency, each order converted at the rate of its day (Saturday's at
// Friday's rate). At 500 EUR, a buyer of 5000 JPY (31.80 EUR) is a
// customer, not loyal; one of 100,000 JPY (636.09 EUR) and one of 600
// EUR are loyal; a buyer of 1000 GBP, for which no rate was loaded, is a
// customer whose order adds nothing, not loyal on 1000 taken as euros. A
// site reporting in yen sees the yen buyers' own amounts and the euros at
// 157.21, and its threshold is 500 yen. The people table, refreshed,
// holds the same figures.
func TestLoyalRevenueConverted(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	loadECB(t, store, "Date,USD,JPY,\n2026-11-06,1.0921,157.21,\n")
	saturday := time.Date(2026, 11, 7, 12, 0, 0, 0, time.UTC)
	buys := []struct {
		visitor, currency string
		micros            int64
		class             string
		eur, jpy          float64
	}{
		{"small-yen", "JPY", 5000_000_000, "customer", 31.804593, 5000},
		{"big-yen", "JPY", 100_000_000_000, "loyal", 636.091852, 100_000},
		{"euro", "EUR", 600_000_000, "loyal", 600, 94326},
		{"pound", "GBP", 1000_000_000, "customer", 0, 0},
	}
	for _, cur := range []string{"EUR", "JPY"} {
		rules := DefaultRules
		rules.Currency = cur
		site := "shop" + strings.ToLower(cur)
		j := &journey{t: t, store: store, s: NewStore(store.DB(), rules), site: site}
		for i, b := range buys {
			j.hit(saturday.Add(time.Duration(i)*time.Minute), b.visitor, "purchase",
				map[event.Field]string{event.OrderID: "o-" + b.visitor, event.Currency: b.currency}, b.micros)
		}
		for _, b := range buys {
			want, class := b.eur, b.class
			if cur == "JPY" {
				want = b.jpy
				if b.jpy >= 500 {
					class = "loyal" // the threshold read in yen: 500 JPY
				}
			}
			j.expect(cur+" "+b.visitor, saturday.Add(time.Hour), Ref{VisitorID: b.visitor}, class, "conversion", func(p Person) string {
				if p.Orders != 1 || p.Revenue != want {
					return fmt.Sprintf("%d orders, revenue %v; want 1 and %v", p.Orders, p.Revenue, want)
				}
				return ""
			})
		}
	}
}

// loadECB loads the rates of an ECB CSV file (money.ParseECB) into the
// store's database.
func loadECB(t *testing.T, store interface{ DB() *chsql.Conn }, csv string) {
	t.Helper()
	rates, err := money.ParseECB(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := money.Load(context.Background(), store.DB(), rates); err != nil {
		t.Fatal(err)
	}
}
