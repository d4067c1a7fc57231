package reports

import (
	"fmt"
	"strings"

	"footfall/internal/money"
	"footfall/internal/orders"
)

// Kind says how a metric's value is read and shown.
type Kind int

const (
	Count   Kind = iota // a whole number (UInt64)
	Share               // a share from 0 to 1 (Float64), 4 decimals
	Seconds             // a mean duration (Float64), 1 decimal
	Money               // an amount in micros (Int64), shown in currency units, 2 decimals
)

// Metric is one figure, defined once: its name (the column of the
// answers) and the aggregate that computes it over the rows of a report,
// for each kind of row it applies to. Events are the rows of the events
// table that eventsWhere selects; sessions are the rows of sessionRows,
// one per session. A report composes its statement from metrics (compose)
// and reads them alike (Metric.read).
type Metric struct {
	Name     string
	Kind     Kind
	Events   string // aggregate over events; "" for a figure of sessions only
	Sessions string // aggregate over session rows; "" for a figure of events only
	// Sketch is the aggregate over events that estimates Events where a
	// site's period has exactBelow visitors or more (a uniqHLL12 sketch,
	// about 1.6% off, as the overview's); "" where Events is cheap as is.
	Sketch string
}

// The metrics. The overview's rollups (events_hourly, pages_daily,
// sources_daily) store Visitors and Pageviews as aggregate states made from
// the same expressions, by their materialized views (migrations 0002,
// 0004, 0011); the overview merges them (overview.go).
// CountedVisitor is true of an events row whose visitor_id counts as a
// visitor: every id but the server API's u:<user id> pseudo-visitors.
const CountedVisitor = "substring(visitor_id, 1, 2) != 'u:'"

var (
	// Visitors: distinct visitor ids.
	// An id starting u: (event.UserVisitorPrefix) is the server API's
	// pseudo-visitor of a customer sent without a visitor id: not a visit,
	// not counted (as the rollups leave it out, migration 0024).
	Visitors = Metric{Name: "visitors", Kind: Count, Events: "uniqIf(visitor_id, " + CountedVisitor + ")", Sessions: "uniq(visitor)",
		Sketch: "uniqHLL12If(visitor_id, " + CountedVisitor + ")"}
	// Pageviews: events of type pageview.
	Pageviews = Metric{Name: "pageviews", Kind: Count, Events: "countIf(type = 'pageview')", Sessions: "sum(pv)"}
	// Sessions: distinct session ids (events without one are in none).
	Sessions = Metric{Name: "sessions", Kind: Count, Events: "uniqIf(session_id, session_id != '')", Sessions: "count()",
		Sketch: "uniqHLL12If(session_id, session_id != '')"}
	// Events: every event.
	Events = Metric{Name: "events", Kind: Count, Events: "count()"}
	// Orders: distinct orders (internal/orders: an order_id, or a purchase
	// without one).
	Orders = Metric{Name: "orders", Kind: Count, Events: orders.Count(orders.Pairs)}
	// Revenue: each order's revenue once (internal/orders), in the
	// reporting currency (@currency), each order converted at the rate of
	// its day (internal/money), after the grouping (orders.Money): a rate
	// is looked up per purchase, not per event; an order no rate converts
	// adds nothing here and is listed in the report's unconverted.
	Revenue = Metric{Name: "revenue", Kind: Money, Events: orders.Revenue(money.ConvertPairs(money.Days, orders.Money))}
	// BounceRate: the share of sessions with one page view or none.
	BounceRate = Metric{Name: "bounce_rate", Kind: Share, Sessions: "countIf(pv <= 1) / count()"}
	// VisitDuration: the mean time from a session's first event to its last.
	VisitDuration = Metric{Name: "visit_duration_seconds", Kind: Seconds, Sessions: "avg(duration)"}
)

// metrics are all the metrics, by name.
var metrics = map[string]Metric{}

func init() {
	for _, m := range []Metric{Visitors, Pageviews, Sessions, Events, Orders, Revenue, BounceRate, VisitDuration} {
		metrics[m.Name] = m
	}
}

// alias is m's column in a statement: m_<name>, so that no alias is the
// name of a table or of a column it reads (count() AS events FROM events;
// sum(pv) AS pageviews), which ClickHouse versions resolve differently.
func (m Metric) alias() string { return "m_" + m.Name }

// level is which rows a metric is computed over.
type level int

const (
	overEvents level = iota
	overSessions
)

// expr is m's aggregate over rows of level l.
func (m Metric) expr(l level) string {
	if l == overSessions {
		return m.Sessions
	}
	return m.Events
}

// selectList is the metrics' part of a SELECT over rows of level l:
// "<aggregate> AS m_<name>, ...".
func selectList(l level, ms []Metric) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		e := m.expr(l)
		if e == "" {
			panic(fmt.Sprintf("reports: metric %s has no definition over these rows", m.Name))
		}
		parts[i] = e + " AS " + m.alias()
	}
	return strings.Join(parts, ",\n       ")
}

// dest is where a row's value of m is scanned.
func (m Metric) dest() any {
	switch m.Kind {
	case Share, Seconds:
		return new(float64)
	case Money:
		return new(int64)
	}
	return new(uint64)
}

// value is the answer's value of m from what dest scanned: counts as
// whole numbers, shares to 4 decimals, durations to 1, money in currency
// units to 2.
func (m Metric) value(scanned any) any {
	switch m.Kind {
	case Share:
		return roundTo(*scanned.(*float64), 4)
	case Seconds:
		return roundTo(*scanned.(*float64), 1)
	case Money:
		return roundTo(float64(*scanned.(*int64))/1e6, 2)
	}
	return *scanned.(*uint64)
}

// zero is m's value where no row counted anything.
func (m Metric) zero() any {
	if m.Kind == Count {
		return uint64(0)
	}
	return 0.
}

// sketched is ms with each one's Events its Sketch where it has one.
func sketched(ms []Metric) []Metric {
	out := make([]Metric, len(ms))
	for i, m := range ms {
		if m.Sketch != "" {
			m.Events = m.Sketch
		}
		out[i] = m
	}
	return out
}

// names are the metrics' names.
func names(ms []Metric) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}
