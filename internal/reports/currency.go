package reports

import (
	"context"
	"maps"
	"slices"
	"strings"

	"footfall/internal/chsql"
	"footfall/internal/money"
	"footfall/internal/orders"
)

// Amounts are shown in the site's reporting currency (Query.Currency):
// each order converted at the rate of its day (internal/money). An order
// no rate converts counts among the orders and adds nothing to revenue;
// the report lists it under unconverted (Table.Unconverted), in its own
// currency.

// currency is q's reporting currency, money.DefaultCurrency when unset.
func (q Query) currency() string {
	if q.Currency == "" {
		return money.DefaultCurrency
	}
	return q.Currency
}

// priced is args, and the reporting currency when stmt converts amounts
// (the parameter @currency), as a copy: args may serve statements that
// convert none.
func (q Query) priced(stmt *chsql.Query, args chsql.Args) chsql.Args {
	if !strings.Contains(stmt.SQL(), "@currency") {
		return args
	}
	out := maps.Clone(args)
	out["currency"] = q.currency()
	return out
}

// qUnconverted: the orders of a report's events that no rate converts, per
// currency, each order once at the largest amount sent for it. The rates
// are looked up for the purchases alone, in a query of their own: in the
// WHERE of the events, ClickHouse computed the look-up for every event.
// {{purchases}} is events, or purchases (migration 0032: the purchase
// events' columns a report's filters on a rollup's dimensions read). The
// rows in another currency are picked in PREWHERE, before any other
// column is read: a site selling in its own currency only reads two
// columns (money.Foreign).
var qUnconverted = chsql.New("reports.unconverted", `SELECT currency, `+orders.Count(orders.Pairs)+`, `+orders.Revenue(orders.Pairs)+` FROM (
    SELECT order_id, event_id, revenue_micros, currency, time, type FROM {{purchases}} PREWHERE `+money.Foreign+`
    WHERE `+eventsWhere+` AND type = 'purchase'
) WHERE `+money.Missing(money.Days)+`
GROUP BY currency ORDER BY currency`)

// unconverted fills t.Unconverted with what q's revenue left out for want
// of a rate, read from the table purchases (events or purchases).
func (q Query) unconverted(ctx context.Context, db *chsql.Conn, purchases string, t *Table) error {
	args := chsql.Args{}
	stmt := qUnconverted.With(map[string]string{"filters": q.where(args), "purchases": purchases})
	t.Currency, t.Unconverted = q.currency(), nil
	return each(ctx, db, stmt, q.priced(stmt, args), func(scan func(...any) error) error {
		var u money.Unconverted
		var micros int64
		if err := scan(&u.Currency, &u.Orders, &micros); err != nil {
			return err
		}
		u.Amount = roundTo(float64(micros)/1e6, 6)
		t.Unconverted = append(t.Unconverted, u)
		return nil
	})
}

// lostOrders gathers lost orders from several rows, each order once at
// the largest amount sent for it (internal/orders' rule).
type lostOrders map[[2]string]int64

// add takes orders as three arrays of one length: currency, order key,
// amount in micros.
func (l lostOrders) add(currency, key []string, micros []int64) {
	for i := range currency {
		k := [2]string{currency[i], key[i]}
		if m, ok := l[k]; !ok || micros[i] > m {
			l[k] = micros[i]
		}
	}
}

// list is the lost orders per currency, in the currencies' order.
func (l lostOrders) list() []money.Unconverted {
	by := map[string]*money.Unconverted{}
	var out []money.Unconverted
	sums := map[string]float64{} // a float: a sum of many large amounts stays near
	for k, m := range l {
		if by[k[0]] == nil {
			by[k[0]] = &money.Unconverted{Currency: k[0]}
		}
		by[k[0]].Orders++
		sums[k[0]] += float64(m)
	}
	for c, u := range by {
		u.Amount = roundTo(sums[c]/1e6, 6)
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b money.Unconverted) int { return strings.Compare(a.Currency, b.Currency) })
	return out
}

// hasMoney says whether some of ms is an amount.
func hasMoney(ms []Metric) bool {
	for _, m := range ms {
		if m.Kind == Money {
			return true
		}
	}
	return false
}
