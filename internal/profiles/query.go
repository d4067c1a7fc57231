// Package profiles turns the per-visitor tables the processor keeps into
// people: visitor ids joined through the identity map, their lifecycle
// class and stage, manual overrides, consents, interests, and the GDPR
// access export and erasure of one person.
package profiles

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/money"
	"footfall/internal/orders"
)

// Rules are the thresholds of the computed lifecycle classes and stages.
type Rules struct {
	LoyalOrders  int     // a customer with this many orders is loyal
	LoyalRevenue float64 // ...or with this much revenue (currency units); 0 turns it off
	InactiveDays int     // a customer without an order for this long is to reactivate
	// Currency is the site's reporting currency, which revenue (and so
	// LoyalRevenue) is in: each order converted at the rate of its day
	// (internal/money); money.DefaultCurrency when "".
	Currency string
	// Zone is the site's time zone, whose days days_seen and days_ordered
	// (and so InactiveDays and a segment's "in the last N days") count:
	// an order at 23:30 is a day old at 00:30. UTC when nil.
	Zone *time.Location
}

// RegisterFlags declares the rules' flags on fs. Each site is classified
// by its own rules, kept in the site registry (internal/sites) where every
// program reads them; the flags are what the dashboards give a new site,
// and what a site the registry does not hold is classified by.
func (r *Rules) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&r.LoyalOrders, "loyal-orders", 3, "orders that make a customer loyal, for sites made without their own (each site's rules are in the site registry)")
	fs.Float64Var(&r.LoyalRevenue, "loyal-revenue", 500, "revenue (currency units) that makes a customer loyal, for sites made without their own; 0 turns the rule off")
	fs.IntVar(&r.InactiveDays, "inactive-days", 90, "days without an order after which a customer is in the reactivation stage, for sites made without their own")
}

// zoneName is the IANA name of the rules' zone, which the people query
// counts days in: ClickHouse 18.16 takes a zone only as a constant string,
// and chsql binds @tz as one, a quoted literal in the statement's text.
// The registry's zones are names time.LoadLocation read ("Local" refused).
func (r Rules) zoneName() string {
	if r.Zone == nil || r.Zone.String() == "Local" {
		return "UTC"
	}
	return r.Zone.String()
}

// currency is the rules' reporting currency.
func (r Rules) currency() string {
	if r.Currency == "" {
		return money.DefaultCurrency
	}
	return r.Currency
}

// DefaultRules are the flags' defaults, for tests and tools.
var DefaultRules = Rules{LoyalOrders: 3, LoyalRevenue: 500, InactiveDays: 90}

// Lifecycle classes, from the least to the most engaged. A person is in the
// highest class whose rule holds, unless a manual class overrides it.
const (
	ClassVisitor    = "visitor"    // anonymous
	ClassSubscriber = "subscriber" // subscribed to a newsletter and did not unsubscribe
	ClassProspect   = "prospect"   // signed up, filled a cart or began a checkout; no order
	ClassCustomer   = "customer"   // at least one order
	ClassLoyal      = "loyal"      // LoyalOrders orders or LoyalRevenue revenue, or set by hand
)

// Classes lists the lifecycle classes in funnel order.
var Classes = []string{ClassVisitor, ClassSubscriber, ClassProspect, ClassCustomer, ClassLoyal}

// Stages lists the lifecycle stages in funnel order: attraction (anonymous),
// acquisition (identified or subscribed), qualification (prospect),
// conversion (one order), retention (repeat customer),
// reactivation (customer with no order for InactiveDays).
var Stages = []string{"attraction", "acquisition", "qualification", "conversion", "retention", "reactivation"}

// IsClass says whether c names a lifecycle class.
func IsClass(c string) bool {
	for _, k := range Classes {
		if c == k {
			return true
		}
	}
	return false
}

// Query builds the people query of one site: one row per person with the
// columns below, filtered by Where. People are computed when asked from the
// per-visitor aggregates the processor keeps up to date, so a class never
// lags the events and recomputing never loses a manual override.
//
// Columns of a person row:
//
//	person_key  normalised user id, or the visitor id of an anonymous person
//	user_id     normalised user id ('' when anonymous)
//	devices     visitor ids joined
//	first_seen, last_seen, sessions, pageviews, carts, checkouts, signups,
//	orders, revenue (micros), first_order, last_order, subscribed (0/1),
//	populations, class, stage,
//	days_seen (days since last seen), days_ordered (days since last order,
//	or 100000 for a person who never ordered)
type Query struct {
	Site  string
	Now   time.Time
	Rules Rules
	// visitorSet, when set, is the SQL of a set of visitor ids (one
	// person's: a subquery on a table of identifiers, WithPerson's or an
	// export's) that restricts the query to them, however many they are.
	visitorSet string
	// base is the site's base (compact.go), which Store.AtBase reads: 0
	// (the zero Query's, a site with no base, or too many rows above it)
	// reads the people table through FINAL alone (finalSQL).
	base  uint64
	where []string
	args  chsql.Args
}

// Where adds a condition on the person columns, ANDed with the others;
// args bind its @parameters:
//
//	q.Where("orders >= @min_orders", chsql.Args{"min_orders": 2})
//
// All conditions share one set of names with the query's own parameters
// (@site, @now, @loyal_orders, @loyal_revenue, @inactive_days, @visitors):
// a condition may use @site, but a name bound again to another value is an
// error, and the condition is not added.
func (q *Query) Where(cond string, args chsql.Args) error {
	merged, err := MergeArgs(q.args, args)
	if err != nil {
		return fmt.Errorf("condition %q: %w", cond, err)
	}
	if _, err := MergeArgs(q.own(), merged); err != nil {
		return fmt.Errorf("condition %q: %w", cond, err)
	}
	q.where = append(q.where, cond)
	q.args = merged
	return nil
}

// MergeArgs returns the union of a and b, or an error when they bind one
// name to different values (compared as the literals they bind to).
func MergeArgs(a, b chsql.Args) (chsql.Args, error) {
	out := make(chsql.Args, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		old, ok := out[k]
		if ok {
			l1, err1 := chsql.Literal(old)
			l2, err2 := chsql.Literal(v)
			if err1 != nil || err2 != nil || l1 != l2 {
				return nil, fmt.Errorf("parameter @%s bound to %v and to %v", k, old, v)
			}
		}
		out[k] = v
	}
	return out, nil
}

// PersonMap is the identity map of a site (parameter @site): each
// identified visitor id with its person. Rows that carry a visitor_id join
// it, aliased, with ANY LEFT JOIN (PersonMap) AS m USING visitor_id and
// take PersonKey, since an anonymous visitor id is a person of its own.
const PersonMap = `SELECT visitor_id, argMinMerge(first_user_id) AS person FROM identities WHERE site_id = @site GROUP BY visitor_id`

// PersonKey is the person key of a row joined to PersonMap.
const PersonKey = `if(person = '', visitor_id, person)`

// personColumns are the columns a person row has before classification,
// as the people table stores them.
const personColumns = `person_key, user_id, devices, first_seen, last_seen, sessions, pageviews, carts, checkouts, signups,
       orders, revenue, first_order, last_order, subscribed`

// personOrders are a person's orders and revenue (micros), as
// internal/orders defines them, over the (order key, revenue) pairs of
// all the person's visitor ids (v_order_pairs, from
// visitor_profiles.order_money, each amount converted to the reporting
// currency @currency at the rate of its day: internal/money; an order no
// rate converts counts, at 0): an order sent twice, even from two of the
// person's devices, counts once.
var personOrders = orders.Count("groupArrayArray(v_order_pairs)") + ` AS orders, ` +
	orders.Revenue("groupArrayArray(v_order_pairs)") + ` AS revenue`

// personRates are the rates of the orders of the visitor ids computedSQL
// reads ({{filter}}), of any day: the people of a few visitors read the
// rates of their currencies and days, not of the site's purchases of all
// time. A refresh reads the same rates before its INSERT and binds them
// (Store.Refresh), since a table chosen by the orders reads the orders'
// visitor_profiles again for each look-up on ClickHouse 18.16.
var personRates = money.OrdersOf("groupUniqArrayIfMerge(order_money)", "visitor_profiles WHERE site_id = @site{{filter}}")

// computedSQL computes person rows from the per-visitor aggregates of the
// visitor ids its {{filter}} lets through (applied to visitor_profiles and
// identities alike). Parameters: @site, the filter's.
//
// The per-visitor columns are named v_* so that no aggregate of the outer
// SELECT has the name of the column it reads (minIf(first_order, ...) AS
// first_order): both engines read that alike today, but it is the kind of
// alias shadowing current ClickHouse's analyzer resolves differently.
var computedSQL = computed(personRates)

// computed is computedSQL with the orders converted at the rates of
// rates (personRates, or money.Bound for a refresh, which reads them
// first: Store.Refresh).
func computed(rates money.Scope) string {
	return `SELECT ` + PersonKey + ` AS person_key, any(person) AS user_id, count() AS devices,
       min(v_first_seen) AS first_seen, max(v_last_seen) AS last_seen, sum(v_sessions) AS sessions,
       sum(v_pageviews) AS pageviews, sum(v_carts) AS carts, sum(v_checkouts) AS checkouts, sum(v_signups) AS signups,
       ` + personOrders + `,
       minIf(v_first_order, toUInt32(v_first_order) > 0) AS first_order, max(v_last_order) AS last_order,
       toUInt8(max(v_subscribed_at) > max(v_unsubscribed_at)) AS subscribed
FROM (
    SELECT visitor_id, minMerge(first_seen) AS v_first_seen, maxMerge(last_seen) AS v_last_seen,
           uniqIfMerge(sessions) AS v_sessions, countIfMerge(pageviews) AS v_pageviews,
           countIfMerge(carts) AS v_carts, countIfMerge(checkouts) AS v_checkouts, countIfMerge(signups) AS v_signups,
           ` + money.ConvertPairs(rates, "groupUniqArrayIfMerge(order_money)") + ` AS v_order_pairs,
           minIfMerge(first_order) AS v_first_order, maxIfMerge(last_order) AS v_last_order,
           maxIfMerge(subscribed) AS v_subscribed_at, maxIfMerge(unsubscribed) AS v_unsubscribed_at
    FROM visitor_profiles WHERE site_id = @site{{filter}} GROUP BY visitor_id
) AS v ANY LEFT JOIN (
    SELECT visitor_id, argMinMerge(first_user_id) AS person FROM identities WHERE site_id = @site{{filter}} GROUP BY visitor_id
) AS m USING visitor_id
GROUP BY person_key`
}

// storedSQL reads the person rows of the people table, as the last
// Refresh left them: of each person key the row of the newest version,
// tombstones left out. Parameters: @site, @base (the site's base, never
// 0: without one the query reads finalSQL).
//
// It reads the rows in two halves, split at the site's base (compact.go):
// the rows at or below it hold each key once (Compact saw to that, and no
// writer makes a version that old any more), so they are read as they
// are, in parallel; only the newer rows, a few hours' refreshes, are
// merged by FINAL, and each older row whose key has a newer one takes
// that one's columns. Through FINAL alone, 10M people in six parts took
// 3.4 s on one thread of ClickHouse 18.16, 1.2 s in one part; in two
// halves, 0.85 to 1.0 s (docs/perf.md). The newer half is a join's
// right side, which ClickHouse holds in memory: where a site has no base
// or too many rows above it (Store.AtBase), it is read through FINAL
// alone instead (finalSQL), streamed.
//
// The newer rows are read once, as the right side of a join, so that
// every key is taken from one read of them: a refresh that lands while
// the older rows are read shows its person once, as before it or as
// after (an older row read without the newer ones' keys, then the newer
// rows read again, showed both: a person twice). The FULL JOIN keeps the
// newer rows that no older row has (new people); each side holds a key
// once, so ALL joins as ANY would (current ClickHouse has no ANY FULL).
// The deleted filters stay where they see merged rows: a tombstone must
// hide the older row of its key, not be dropped before the merge. The newer half's version
// condition is in PREWHERE, before the merge: every version of a key that
// has a newer row is older than that row, so the merge of the newer rows
// alone keeps the row FINAL over them all would. That subquery names
// version and the filter above it repeats the condition because
// ClickHouse 18.16 otherwise drops the column FINAL merges by ("Not found
// column version in block"). The joined columns are renamed twice since
// 18.16 cannot name an expression after a column it reads.
var storedSQL = `SELECT ` + prefixed("o_", "", personColumns) + ` FROM (
    SELECT ` + joined + `, n_hit, n_deleted FROM (
        SELECT ` + personColumns + ` FROM people WHERE site_id = @site AND version <= @base AND deleted = 0
    ) AS b ALL FULL OUTER JOIN (
        SELECT person_key, ` + prefixed("", "n_", personColumns) + `, deleted AS n_deleted, toUInt8(1) AS n_hit FROM (
            SELECT ` + personColumns + `, deleted, version FROM people FINAL PREWHERE version > @base WHERE site_id = @site
        ) WHERE version > @base
    ) AS n USING person_key
) WHERE n_hit = 0 OR n_deleted = 0`

// finalSQL reads the person rows of the people table through FINAL
// alone: where a site has no base, or too many rows above it for the
// join's memory. Parameter: @site.
const finalSQL = `SELECT ` + personColumns + ` FROM (
    SELECT ` + personColumns + `, deleted FROM people FINAL WHERE site_id = @site
) WHERE deleted = 0`

// joined picks each column of a person row from the newer half (n_...)
// where the key has a newer row, else from the older one, as o_....
var joined = eachColumn(personColumns, func(c string) string { return "if(n_hit = 1, n_" + c + ", " + c + ") AS o_" + c })

// prefixed renames the columns of list: from+c AS to+c ("" names c
// itself).
func prefixed(from, to, list string) string {
	return eachColumn(list, func(c string) string { return from + c + " AS " + to + c })
}

// eachColumn is the columns of the comma-separated list, each as f
// writes it, comma-separated.
func eachColumn(list string, f func(c string) string) string {
	var out []string
	for _, c := range strings.Split(list, ",") {
		out = append(out, f(strings.TrimSpace(c)))
	}
	return strings.Join(out, ", ")
}

// qPeople classifies person rows ({{rows}}) and filters them ({{where}}).
// Parameters: @now, @loyal_orders, @loyal_revenue, @inactive_days, @site
// (overrides), those of the rows and of the filter.
var qPeople = chsql.New("profiles.people", `SELECT `+personColumns+`, populations, class, stage, days_seen, days_ordered
FROM (
SELECT *,
    toInt64(toRelativeDayNum(@now, @tz)) - toInt64(toRelativeDayNum(last_seen, @tz)) AS days_seen,
    if(orders = 0, toInt64(100000), toInt64(toRelativeDayNum(@now, @tz)) - toInt64(toRelativeDayNum(last_order, @tz))) AS days_ordered,
    multiIf(o_class != '', o_class,
            orders >= @loyal_orders OR (@loyal_revenue > 0 AND revenue >= @loyal_revenue), 'loyal',
            orders > 0, 'customer',
            carts + checkouts + signups > 0, 'prospect',
            subscribed = 1, 'subscriber',
            'visitor') AS class,
    multiIf(orders > 0 AND days_ordered >= @inactive_days, 'reactivation',
            orders >= 2, 'retention',
            orders = 1, 'conversion',
            class = 'prospect', 'qualification',
            user_id != '' OR subscribed = 1, 'acquisition',
            'attraction') AS stage
FROM (
    SELECT * FROM ({{rows}}) AS p ANY LEFT JOIN (
        SELECT person_key, argMax(class, version) AS o_class, argMax(populations, version) AS populations
        FROM profile_overrides WHERE site_id = @site GROUP BY person_key
    ) AS o USING person_key
)
){{where}}`)

// own are the query's own parameters.
func (q *Query) own() chsql.Args {
	now := q.Now
	if now.IsZero() {
		now = time.Now()
	}
	args := chsql.Args{
		"site":          q.Site,
		"now":           now.UTC().Truncate(time.Second),
		"loyal_orders":  uint64(q.Rules.LoyalOrders),
		"loyal_revenue": int64(q.Rules.LoyalRevenue * 1e6),
		"inactive_days": int64(q.Rules.InactiveDays),
		"tz":            q.Rules.zoneName(),
	}
	if q.visitorSet != "" {
		args["currency"] = q.Rules.currency() // computedSQL converts
	} else if q.base > 0 {
		args["base"] = q.base // storedSQL
	}
	return args
}

// Of restricts q to the visitors of in (WithPerson's or WithVisitors'
// set): their people are computed from those visitors' aggregates, as
// they are now, not read from the people table as the last Refresh left
// it.
func (q *Query) Of(in Visitors) { q.visitorSet = in.SQL() }

// Statement returns the people query, the registered statement
// profiles.people, and its arguments. With visitorSet set, people are
// computed from those visitor ids' aggregates; otherwise they are read
// from the people table, as the last Refresh left it.
func (q *Query) Statement() (*chsql.Query, chsql.Args, error) {
	args, err := MergeArgs(q.own(), q.args)
	if err != nil {
		return nil, nil, err
	}
	var where string
	if len(q.where) > 0 {
		where = "\nWHERE (" + strings.Join(q.where, ") AND (") + ")"
	}
	if q.visitorSet == "" {
		rows := finalSQL
		if q.base > 0 {
			rows = storedSQL
		}
		return qPeople.With(map[string]string{"rows": rows, "where": where}), args, nil
	}
	filter := " AND visitor_id IN " + q.visitorSet
	st := qPeople.With(map[string]string{"rows": computedSQL, "where": where})
	return st.With(map[string]string{"filter": filter}), args, nil
}

// SQL returns the people query's text, with @parameters, for a {{people}}
// slot of the caller's own registered statement, and its arguments, to
// which the caller adds its own with MergeArgs. The text ends with the
// query's WHERE, so "ORDER BY person_key" may follow it.
func (q *Query) SQL() (string, chsql.Args, error) {
	st, args, err := q.Statement()
	if err != nil {
		return "", nil, err
	}
	return st.SQL(), args, nil
}
