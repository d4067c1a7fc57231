// Package orders defines what an order is and what it brought, once, for
// every figure that counts orders or revenue: the reports' breakdowns and
// series, the dashboard's e-commerce card, affiliates, a person's profile,
// a newsletter campaign's report and the Grafana dashboard. A shop's
// backend may send the same order twice (a retry, a page reloaded on the
// thank-you page, the browser and the server both reporting it); summing
// revenue per purchase event would count it twice.
//
// An order is a purchase event's order_id, or, for a purchase sent without
// one, the event itself (its event_id), so each such purchase is an order
// of its own and a redelivered copy of it is still one. Figures are
// computed from a set of (order key, revenue) pairs: Count is the number
// of distinct keys, Revenue adds each key's revenue once, the largest
// amount sent for it, so that a copy sent without its amount (0) never
// hides it. The statements that use them are checked on ClickHouse 18.16
// and current ClickHouse like any other (internal/chsql/compat).
package orders

import "math"

// Key is a purchase event's order key: its order_id, or else its own id.
const Key = `if(order_id != '', order_id, toString(event_id))`

// Pair is a purchase event's (order key, revenue in micros), a
// Tuple(String, Int64). visitor_profiles.order_revenue keeps the set of a
// visitor's pairs, written by migration 0013 with this same expression.
const Pair = `(` + Key + `, revenue_micros)`

// Pairs is the aggregate of events rows into the set of their purchases'
// pairs, an Array(Tuple(String, Int64)): what Count and Revenue read.
const Pairs = `groupUniqArrayIf(` + Pair + `, type = 'purchase')`

// Money is the aggregate of events rows into the set of their purchases'
// (order key, revenue in micros, currency, day), an Array(Tuple(String,
// Int64, String, Date)), as visitor_profiles.order_money keeps them
// (migration 0023): what money.ConvertPairs turns into pairs in the
// reporting currency. Converting after the grouping looks up a rate per
// purchase of a group, not per events row (PairsOf(money.Amount(...))
// computes the amount of every row, purchase or not: ClickHouse evaluates
// an -If aggregate's argument before its condition).
const Money = `groupUniqArrayIf((` + Key + `, revenue_micros, currency, toDate(time)), type = 'purchase')`

// PairsOf is Pairs with each purchase's amount given by amount, an Int64
// expression over its events row: money.Amount, the revenue in the
// site's reporting currency, for the revenue figures.
func PairsOf(amount string) string {
	return `groupUniqArrayIf((` + Key + `, ` + amount + `), type = 'purchase')`
}

// perOrder is, for pairs (an Array(Tuple(String, Int64)) expression), an
// array with one element per pair in sorted order: value for the last pair
// of each key (the one with the largest revenue), 0 for the others. Each
// pair is compared with the key of the next one (next), the empty string
// after the last, which no key is. No lambda here captures a column, which
// ClickHouse 18.16 gets wrong inside another lambda.
func perOrder(pairs, value string) string {
	sorted := `arraySort(` + pairs + `)`
	return `arrayMap((o, next) -> if(tupleElement(o, 1) = next, 0, ` + value + `), ` + sorted +
		`, arrayPopFront(arrayPushBack(arrayMap(o -> tupleElement(o, 1), ` + sorted + `), '')))`
}

// Count is the number of orders in pairs, a UInt64. pairs may hold a key
// more than once (groupArrayArray of several rows' Pairs).
func Count(pairs string) string { return `toUInt64(arraySum(` + perOrder(pairs, `1`) + `))` }

// Revenue is the revenue of the orders in pairs, in micros (Int64): each
// order once, at the largest amount sent for it.
//
// The sum never wraps round. An Int64 holds 9,223,372,036,854 currency
// units in micros: 9,223 orders at the most the collector takes for one
// (event.MaxAmount), so a site's revenue could pass it where an arraySum
// of Int64 would turn negative. The orders are added as Decimal128 (38
// digits; arraySum takes no Decimal on ClickHouse 18.16, arrayReduce's
// sum does), exactly, and the total is held within Int64's bounds
// (MaxMicros, MinMicros): a figure beyond them reads as the bound.
func Revenue(pairs string) string {
	return `toInt64(least(greatest(arrayReduce('sum', arrayMap(x -> toDecimal128(x, 0), ` + perOrder(pairs, `tupleElement(o, 2)`) +
		`)), toDecimal128(` + minMicros + `, 0)), toDecimal128(` + maxMicros + `, 0)))`
}

// Largest and Total are Count and Revenue for rows grouped by order
// first (GROUP BY ..., Key): Largest, an aggregate over one order's rows,
// is its amount once, the largest sent for it (amount: an Int64
// expression over a purchase's row, such as money.Amount); Total, over
// one row per order, adds them as Revenue does, and count() counts them.
// The same figures as Count and Revenue of the set of pairs; cheaper
// where a row holds many orders: a breakdown's rows by source at 10M
// events have 33,000 orders each, whose pairs were sorted as arrays (613
// ms of ClickHouse's CPU for 201,000 purchases, 236 ms grouped). The
// breakdowns over rollups group by the 64-bit hash of the value and Key
// instead of the two strings (internal/reports, ordersStatement): the
// same figures but for a collision of hashes.
func Largest(amount string) string { return `max(` + amount + `)` }

// Total: see Largest; amounts is the Int64 column of Largest's rows.
func Total(amounts string) string {
	return `toInt64(least(greatest(sum(toDecimal128(` + amounts + `, 0)), toDecimal128(` + minMicros + `, 0)), toDecimal128(` + maxMicros + `, 0)))`
}

// MaxMicros and MinMicros are the bounds a revenue figure is held within,
// Int64's; maxMicros and minMicros are their text.
const (
	MaxMicros = math.MaxInt64
	MinMicros = math.MinInt64
	maxMicros = "9223372036854775807"
	minMicros = "-9223372036854775808"
)
