// Package money converts order amounts into a site's reporting currency.
// An order keeps the currency and amount it was sent with (events.currency,
// events.revenue_micros); a report converts each order at the rate of its
// day, from the exchange-rate table the operator loads (exchange_rates,
// migration 0023: the ECB's daily reference rates, how many units of a
// currency one euro buys). A cross rate goes through the euro: JPY to USD
// is per_eur(USD) / per_eur(JPY), each currency's rate of the order's day.
//
// The rate of a day is, for each currency on its own, the latest one
// published on or before it, at most Lookback days before (with the ECB's
// files both come from the same day; they differ only where one currency
// has no rate that day, an N/A cell or a partial file). The ECB
// publishes none on weekends and TARGET holidays: Saturday's order takes
// Friday's rate, Easter Monday's takes Thursday's. An order whose
// currency has no such rate, or when the reporting currency has none that
// day, is not converted: it counts as
// an order, adds nothing to revenue, and the report lists it under
// unconverted with its own currency and amount (Unconverted), never
// summed as if it were in the reporting currency. An order in the
// reporting currency, or one sent without a currency (the collector
// refuses an amount without one; older rows may have it), needs no rate.
//
// The order's day is its UTC date, the day the ECB's rates are dated by.
//
// Everything here is SQL text for the statements of internal/reports,
// internal/profiles and internal/campaigns: the rates are looked up by a
// scalar subquery (a constant of two arrays) and transform(), which
// ClickHouse 18.16 and current ClickHouse run alike, with no dictionary,
// no ASOF JOIN (18.16 has none) and no Map. Parameters: @currency, the
// reporting currency.
package money

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// DefaultCurrency is the reporting currency of a site that names none.
const DefaultCurrency = "EUR"

// Lookback is how many days before an order's day a rate is looked for.
const Lookback = 7

// A Scope is which rates a statement looks up: those of the days its
// orders may need (rates, a condition on exchange_rates), and, where that
// is no bound (all days), of the currencies and days of the orders it
// converts (orders, a SELECT of their (fx_c currency, fx_d day)), so that
// the table of rates a statement carries holds what it can use and no
// more. ClickHouse 18.16 reads a transform() of many keys slowly (300,000
// keys over a million rows: 24 s, against 0.4 s for 3,000), and the ECB's
// history is about 300,000 currency days; a period's days hold a few
// thousand. The statements convert their orders after grouping them
// (orders.Money, ConvertPairs), so a look-up is made per order, not per
// event.
//
// A period's rates are not narrowed further to the currencies and days of
// its purchases: that read the period's events again for each copy of the
// table (six times a copy, four copies in a report's revenue), most of
// what a breakdown cost. A refresh of a few people reads the rates of
// their orders alone, not of the site's purchases of all time.
type Scope struct {
	rates, orders string
	bound         bool // the table is the parameters @fx_keys and @fx_values (Bound)
	given         bool // the orders are parameters (ratesOf)
}

// Days are the rates orders of [@from, @to) can use.
var Days = DaysOf("@from", "@to")

// DaysOf are the rates orders from from to to (SQL DateTime expressions)
// can use: those of the days from Lookback days before from to to's.
func DaysOf(from, to string) Scope {
	return Scope{rates: `day >= toDate(` + from + `) - ` + lookback + ` AND day <= toDate(` + to + `)`}
}

// OrdersOf are the rates of the orders (an Array(Tuple(String, Int64,
// String, Date)) aggregate, as ConvertPairs takes them) of the rows of
// from ("table WHERE ..."), of any day: for figures over all of some
// people's orders (internal/profiles: groupUniqArrayIfMerge(order_money)
// of their visitor_profiles rows).
func OrdersOf(orders, from string) Scope {
	return Scope{rates: `1`, orders: `SELECT tupleElement(fx_o, 3) AS fx_c, tupleElement(fx_o, 4) AS fx_d FROM (
            SELECT ` + orders + ` AS fx_os FROM ` + from + `
        ) ARRAY JOIN fx_os AS fx_o`}
}

// AnyAmount is s for an amount that is no purchase (a campaign's cost):
// the rates of every currency of its days (a DaysOf scope holds them
// already).
func (s Scope) AnyAmount() Scope { s.orders = ""; return s }

const lookback = "7"

// table is, for the rates of the days selected by days, a constant
// Tuple(Array(String), Array(Float64)): each currency and day (the key
// currency || 'YYYY-MM-DD') with how many units of @currency one unit of
// it is worth that day. A sentinel (” and 0) ends both arrays, so that
// neither is ever empty (18.16's transform refuses empty arrays). The
// pairs are sorted: 18.16 runs each copy of a scalar subquery on its own,
// and the keys and the values must come in the same order.
func table(s Scope) string { return `(` + tableSelect(s) + `)` }

// tableSelect is table's SELECT, of two columns: the keys and the rates.
func tableSelect(s Scope) string {
	days := s.rates
	// only the currencies and days of the orders, and the reporting
	// currency's days
	var used, usedTo, usedDays string
	if s.orders != "" {
		span := ` AND day >= (SELECT min(fx_d) - ` + lookback + ` FROM (` + s.orders + `)) AND day <= (SELECT max(fx_d) FROM (` + s.orders + `))`
		used = ` AND (currency = @currency OR currency IN (SELECT fx_c FROM (` + s.orders + `)))` + span
		usedTo = ` AND currency = @currency` + span
		usedDays = `
        WHERE (currency, rate_day) IN (SELECT fx_c, fx_d FROM (` + s.orders + `))`
	}
	if s.given {
		// the same, of the orders' currencies (@fx_currencies), days
		// (@fx_from to @fx_to) and currency days (@fx_orders, keys)
		span := ` AND day >= toDate(@fx_from) - ` + lookback + ` AND day <= toDate(@fx_to)`
		used = ` AND (currency = @currency OR currency IN @fx_currencies)` + span
		usedTo = ` AND currency = @currency` + span
		usedDays = `
        WHERE concat(currency, toString(rate_day)) IN @fx_orders`
	}
	// each rate as published, the newest load of a day, then carried to
	// the Lookback days after it; of the rates that reach a day, the
	// latest (the smallest k).
	daily := func(used string) string {
		return `SELECT currency, toDate(day + k) AS rate_day, argMin(per_eur, k) AS per_eur FROM (
            SELECT currency, day, argMax(per_eur, version) AS per_eur FROM exchange_rates WHERE ` + days + used + ` GROUP BY currency, day
        ) ARRAY JOIN range(` + strconv.Itoa(Lookback+1) + `) AS k
        GROUP BY currency, rate_day`
	}
	return `SELECT arrayMap(x -> tupleElement(x, 1), fx_all), arrayMap(x -> tupleElement(x, 2), fx_all) FROM (
    SELECT arrayPushBack(arraySort(groupArray((fx_key, fx))), ('', toFloat64(0))) AS fx_all FROM (
    SELECT concat(currency, toString(rate_day)) AS fx_key, if(to_per_eur > 0, to_per_eur / per_eur, toFloat64(0)) AS fx FROM (
        SELECT currency, rate_day, per_eur FROM (
        ` + daily(used) + `
        )` + usedDays + `
    ) AS c ANY LEFT JOIN (
        SELECT rate_day, per_eur AS to_per_eur FROM (
        ` + daily(usedTo) + `
        ) WHERE currency = @currency
    ) AS t USING rate_day
))`
}

// rate is the rate from currency to @currency on day (SQL expressions),
// 0 where none is known.
func rate(days Scope, currency, day string) string {
	if days.bound {
		return `transform(concat(` + currency + `, toString(` + day + `)), CAST(@fx_keys AS Array(String)), CAST(@fx_values AS Array(Float64)), toFloat64(0))`
	}
	fx := table(days)
	return `transform(concat(` + currency + `, toString(` + day + `)), tupleElement(` + fx + `, 1), tupleElement(` + fx + `, 2), toFloat64(0))`
}

// native says whether an amount in currency needs no rate.
func native(currency string) string { return `(` + currency + ` = @currency OR ` + currency + ` = '')` }

// convert is amount (Int64 micros, in currency, of day) in @currency:
// micros rounded half up, held within ±9.2e18 (a billion of a currency
// worth little is more micros of one worth much than an Int64 holds; the
// sums of internal/orders then hold totals within Int64's bounds), 0 where
// no rate is known.
func convert(days Scope, amount, currency, day string) string {
	return `toInt64(least(greatest(floor(` + amount + ` * if(` + native(currency) + `, toFloat64(1), ` + rate(days, currency, day) +
		`) + 0.5), -9.2e18), 9.2e18))`
}

// Amount is an events row's revenue in @currency, in micros (Int64), 0
// when no rate converts it (Missing).
func Amount(days Scope) string {
	return convert(days, "revenue_micros", "currency", "toDate(time)")
}

// Convert is amount (Int64 micros) in currency on day, SQL expressions
// (a campaign's cost: parameters), in @currency, 0 when no rate converts
// it; rates are read from the days selected by days.
func Convert(days Scope, amount, currency, day string) string {
	return convert(days, amount, currency, day)
}

// Missing holds for an events row whose revenue no rate converts: a
// Foreign row without a rate.
func Missing(days Scope) string {
	return `(` + Foreign + ` AND ` + rate(days, "currency", "toDate(time)") + ` = 0)`
}

// Foreign holds for an events row with revenue in another currency than
// @currency: the rows Missing may hold for, found without the look-up of
// a rate, so that a statement can keep them in its PREWHERE (ClickHouse
// 18.16 computes each side of an AND for every row: the look-up cost a
// breakdown of 2M purchases, all in the site's currency, 300 ms of CPU).
var Foreign = `(revenue_micros != 0 AND NOT ` + native("currency") + `)`

// ConvertPairs turns orders (an Array(Tuple(String, Int64, String, Date)):
// order key, micros, currency, day, as visitor_profiles.order_money keeps
// them) into the (order key, micros in @currency) pairs internal/orders
// sums, 0 for an order no rate converts.
func ConvertPairs(days Scope, orders string) string {
	return `arrayMap(o -> (tupleElement(o, 1), ` + convert(days, "tupleElement(o, 2)", "tupleElement(o, 3)", "tupleElement(o, 4)") + `), ` + orders + `)`
}

// MissingOrders is the (currency, order key, micros) of the orders that no
// rate converts, of orders as ConvertPairs takes them.
func MissingOrders(days Scope, orders string) string {
	return `arrayMap(o -> (tupleElement(o, 3), tupleElement(o, 1), tupleElement(o, 2)), arrayFilter(o -> tupleElement(o, 2) != 0 AND NOT ` +
		native("tupleElement(o, 3)") + ` AND ` + rate(days, "tupleElement(o, 3)", "tupleElement(o, 4)") + ` = 0, ` + orders + `))`
}

// Sum is the orders no rate converts, given as their currencies and
// amounts in micros (one order each), per currency in the currencies'
// order; nil for none.
func Sum(currency []string, micros []int64) []Unconverted {
	var out []Unconverted
	for i, c := range currency {
		j := slices.IndexFunc(out, func(u Unconverted) bool { return u.Currency == c })
		if j < 0 {
			out = append(out, Unconverted{Currency: c})
			j = len(out) - 1
		}
		out[j].Orders++
		out[j].Amount += float64(micros[i]) / 1e6
	}
	for i := range out {
		out[i].Amount = math.Round(out[i].Amount*1e6) / 1e6
	}
	slices.SortFunc(out, func(a, b Unconverted) int { return strings.Compare(a.Currency, b.Currency) })
	return out
}

// Unconverted is what a figure left out for want of a rate: the orders in
// one currency and their amount in it.
type Unconverted struct {
	Currency string  `json:"currency"`
	Orders   uint64  `json:"orders"`
	Amount   float64 `json:"amount"`
}
