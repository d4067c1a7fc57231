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
)

// Rules are the thresholds of the computed lifecycle classes and stages.
type Rules struct {
	LoyalOrders  int     // a customer with this many orders is loyal
	LoyalRevenue float64 // ...or with this much revenue (currency units); 0 turns it off
	InactiveDays int     // a customer without an order for this long is to reactivate
}

// RegisterFlags declares the rules' flags on fs, for every program that
// classifies people (the processor's triggers and the API must agree).
func (r *Rules) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&r.LoyalOrders, "loyal-orders", 3, "orders that make a customer loyal")
	fs.Float64Var(&r.LoyalRevenue, "loyal-revenue", 500, "revenue (currency units) that makes a customer loyal; 0 turns the rule off")
	fs.IntVar(&r.InactiveDays, "inactive-days", 90, "days without an order after which a customer is in the reactivation stage")
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
	// Visitors restricts the query to these visitor ids (one person's).
	Visitors []string
	where    []string
	args     []any
}

// Where adds a condition on the person columns, ANDed with the others;
// args bind its placeholders.
func (q *Query) Where(cond string, args ...any) {
	q.where = append(q.where, cond)
	q.args = append(q.args, args...)
}

// PersonMap is the identity map of a site (argument: the site): each
// identified visitor id with its person. Rows that carry a visitor_id join
// it with ANY LEFT JOIN ... USING visitor_id and take PersonKey, since an
// anonymous visitor id is a person of its own.
const PersonMap = `SELECT visitor_id, argMinMerge(person) AS person FROM identities WHERE site_id = ? GROUP BY visitor_id`

// PersonKey is the person key of a row joined to PersonMap.
const PersonKey = `if(person = '', visitor_id, person)`

// personColumns are the columns a person row has before classification,
// as the people table stores them.
const personColumns = `person_key, user_id, devices, first_seen, last_seen, sessions, pageviews, carts, checkouts, signups,
       orders, revenue, first_order, last_order, subscribed`

// computedSQL computes person rows from the per-visitor aggregates of the
// visitor ids the filter %[1]s lets through (applied to visitor_profiles
// and identities alike). Arguments: site, the filter's, site, the filter's.
const computedSQL = `SELECT ` + PersonKey + ` AS person_key, any(person) AS user_id, count() AS devices,
       min(first_seen) AS first_seen, max(last_seen) AS last_seen, sum(sessions) AS sessions,
       sum(pageviews) AS pageviews, sum(carts) AS carts, sum(checkouts) AS checkouts, sum(signups) AS signups,
       sum(orders) AS orders, sum(revenue) AS revenue,
       minIf(first_order, toUInt32(first_order) > 0) AS first_order, max(last_order) AS last_order,
       toUInt8(max(subscribed_at) > max(unsubscribed_at)) AS subscribed
FROM (
    SELECT visitor_id, minMerge(first_seen) AS first_seen, maxMerge(last_seen) AS last_seen,
           uniqIfMerge(sessions) AS sessions, countIfMerge(pageviews) AS pageviews,
           countIfMerge(carts) AS carts, countIfMerge(checkouts) AS checkouts, countIfMerge(signups) AS signups,
           uniqExactIfMerge(orders) AS orders,
           arraySum(arrayMap(x -> tupleElement(x, 2), groupUniqArrayIfMerge(order_revenue))) AS revenue,
           minIfMerge(first_order) AS first_order, maxIfMerge(last_order) AS last_order,
           maxIfMerge(subscribed) AS subscribed_at, maxIfMerge(unsubscribed) AS unsubscribed_at
    FROM visitor_profiles WHERE site_id = ?%[1]s GROUP BY visitor_id
) ANY LEFT JOIN (
    SELECT visitor_id, argMinMerge(person) AS person FROM identities WHERE site_id = ?%[1]s GROUP BY visitor_id
) USING visitor_id
GROUP BY person_key`

// storedSQL reads the person rows of the people table, as the last
// Refresh left them. Argument: site.
// The deleted filter stays outside the FINAL subquery so that it sees
// merged rows: a tombstone must hide the older row of its key, not be
// dropped before the merge.
const storedSQL = `SELECT ` + personColumns + ` FROM (
    SELECT ` + personColumns + `, deleted FROM people FINAL WHERE site_id = ?
) WHERE deleted = 0`

// peopleSQL classifies person rows (%[1]s) and filters them (%[2]s).
// Arguments: now, now, loyal orders, loyal revenue twice, inactive days,
// those of the person rows, site (overrides), then the filter's.
const peopleSQL = `SELECT ` + personColumns + `, populations, class, stage, days_seen, days_ordered
FROM (
SELECT *,
    intDiv(toInt64(toUInt32(toDateTime(?))) - toInt64(toUInt32(last_seen)), 86400) AS days_seen,
    if(orders = 0, 100000, intDiv(toInt64(toUInt32(toDateTime(?))) - toInt64(toUInt32(last_order)), 86400)) AS days_ordered,
    multiIf(o_class != '', o_class,
            orders >= ? OR (? > 0 AND revenue >= ?), 'loyal',
            orders > 0, 'customer',
            carts + checkouts + signups > 0, 'prospect',
            subscribed = 1, 'subscriber',
            'visitor') AS class,
    multiIf(orders > 0 AND days_ordered >= ?, 'reactivation',
            orders >= 2, 'retention',
            orders = 1, 'conversion',
            class = 'prospect', 'qualification',
            user_id != '' OR subscribed = 1, 'acquisition',
            'attraction') AS stage
FROM (
    SELECT * FROM (%[1]s) ANY LEFT JOIN (
        SELECT person_key, argMax(class, version) AS o_class, argMax(populations, version) AS populations
        FROM profile_overrides WHERE site_id = ? GROUP BY person_key
    ) USING person_key
)
)%[2]s`

// SQL returns the query and its arguments. With Visitors set, people are
// computed from those visitor ids' aggregates; otherwise they are read
// from the people table, which the caller refreshes first (Store.People
// does).
func (q *Query) SQL() (string, []any) {
	now := q.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Second)
	loyalRev := int64(q.Rules.LoyalRevenue * 1e6)
	args := []any{now, now, uint64(q.Rules.LoyalOrders), loyalRev, loyalRev, int64(q.Rules.InactiveDays)}
	rows := storedSQL
	if q.Visitors != nil {
		rows = fmt.Sprintf(computedSQL, " AND visitor_id IN ?")
		args = append(args, q.Site, q.Visitors, q.Site, q.Visitors)
	} else {
		args = append(args, q.Site)
	}
	args = append(args, q.Site)
	var where string
	if len(q.where) > 0 {
		where = "\nWHERE " + strings.Join(q.where, " AND ")
	}
	return fmt.Sprintf(peopleSQL, rows, where), append(args, q.args...)
}
