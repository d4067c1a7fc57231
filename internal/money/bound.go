package money

import (
	"context"
	"fmt"
	"slices"
	"time"

	"footfall/internal/chsql"
)

// Bound is the scope of a statement whose rate table is given to it as
// the parameters @fx_keys and @fx_values (Table.Bind), built before by
// RatesOf. ClickHouse 18.16 runs each copy of a scalar subquery on its
// own: a table chosen by its orders (OrdersOf) reads those orders again
// six times per copy, twice per look-up, so a refresh of a few people read
// their visitor_profiles thirteen times where it needed them once
// (internal/profiles).
var Bound = Scope{bound: true}

// MaxOrderDays is the most currency days of orders whose rates a
// statement is given bound (RatesOf, Table.Bind): about 45 bytes of its
// text each, and ClickHouse refuses a statement of more than 256 KiB
// (max_query_size). A site of many currencies over years has more in
// all; a statement converting those chooses its rates inside it
// (OrdersOf).
const MaxOrderDays = 4000

// An OrderDay is the currency and UTC day of orders to convert.
type OrderDay struct {
	Currency string
	Day      time.Time
}

// A Table is a rate table as a statement of scope Bound takes it: each
// key (currency || 'YYYY-MM-DD') with how many units of the reporting
// currency one unit of it is worth that day, ended by the sentinel (”,
// 0), as table makes it.
type Table struct {
	Keys   []string
	Values []float64
}

// NoRates is the table of a statement with no order to convert.
var NoRates = Table{Keys: []string{""}, Values: []float64{0}}

// Bind adds t to args as @fx_keys and @fx_values.
func (t Table) Bind(args chsql.Args) {
	args["fx_keys"], args["fx_values"] = t.Keys, t.Values
}

// ratesOf is the rate table of the orders of the currencies
// (@fx_currencies, a set), days (@fx_from to @fx_to) and currency days
// (@fx_orders, a set of currency || 'YYYY-MM-DD') given, into @currency:
// the table OrdersOf makes inside a statement, of the same rates.
var ratesOf = chsql.New("money.rates_of_orders", tableSelect(Scope{rates: `1`, given: true}))

// RatesOf reads the rate table of orders in the given currencies and days
// into currency, for a statement of scope Bound: one small statement on
// exchange_rates. With no orders it is NoRates, read from nothing.
func RatesOf(ctx context.Context, db *chsql.Conn, currency string, orders []OrderDay) (Table, error) {
	if len(orders) == 0 {
		return NoRates, nil
	}
	var currencies, keys chsql.Set[string]
	from, to := orders[0].Day.UTC(), orders[0].Day.UTC()
	for _, o := range orders {
		day := o.Day.UTC()
		if !slices.Contains(currencies, o.Currency) {
			currencies = append(currencies, o.Currency)
		}
		keys = append(keys, o.Currency+day.Format(time.DateOnly))
		if day.Before(from) {
			from = day
		}
		if day.After(to) {
			to = day
		}
	}
	var t Table
	err := db.QueryRow(ctx, ratesOf, chsql.Args{"currency": currency, "fx_currencies": currencies, "fx_orders": keys,
		"fx_from": chsql.Date(from), "fx_to": chsql.Date(to)}).Scan(&t.Keys, &t.Values)
	if err != nil {
		return Table{}, fmt.Errorf("rates of %d order days: %w", len(orders), err)
	}
	return t, nil
}
