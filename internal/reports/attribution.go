package reports

import (
	"strconv"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/orders"
)

// Attribution: what brought a visitor is a property of the session, not
// of each event. A session's source, medium, utm_* tags, affiliate and
// click id are those of its landing, and a breakdown by one of them
// (touchDims) reports every event of the session under them: its later
// page views (whose own referrer is the site), its cart, its order. The
// touches table (migration 0015) keeps the events that say where a visitor
// came from, in practice the landings.
//
// The rule, last non-direct touch (as Google Analytics' default): an event
// is credited to the landing of its own session when that landing is not
// direct; otherwise to the visitor's last non-direct landing that began
// at most AttributionWindow before the event's session began (before the
// event, for an event without a session: an order the shop's server sent
// with the visitor id only); otherwise it is (direct). A landing is
// direct when its source is (direct) or (internal) (a tab left open past
// the session's 30 minutes, or the site's own pages) and it has no utm_*
// tag, affiliate or click id: an affiliate's link without a referrer is a
// touch. So a visitor who
// came from Google and orders in the same session, from the server an hour
// later, or in a direct visit three days later, is google's order; a
// later visit from a newsletter campaign is the campaign's, and so are the
// orders after it.
//
// A session is credited with its first touch (a session's later events
// have the site as referrer, and a new campaign starts a new session in
// the snippet). A session without a touch is anchored at its first event
// in the period: the visitor's sessions do not overlap, so the last touch
// before it is the same as before its real start.
//
// Filters stay on each event's own values (filter=source==google keeps
// the events whose own source is google, the landings); only the
// breakdown's rows are attributed.

// AttributionWindow is how far back a visitor's last non-direct landing
// is credited with their later events.
const AttributionWindow = 30 * 24 * time.Hour

// touchDims are the dimensions of a session's landing, by their place in
// a touch tuple (1-based, the order of touchRows' tuple).
var touchDims = map[string]int{
	"source": 1, "medium": 2, "utm_source": 3, "utm_medium": 4, "utm_campaign": 5,
	"utm_term": 6, "utm_content": 7, "affiliate": 8, "click_id": 9,
}

// direct is the touch of an event no non-direct landing brought.
const direct = `('(direct)', '(none)', '', '', '', '', '', '', '')`

// visitRows are the report's events per visit: one row per session, or
// per second of a visitor's events without a session, with what the
// visit metrics (Metric.Visits) aggregate: visitor, sid, first_at (its
// first event in the period), n_events, pv (page views), pairs (its
// orders, internal/orders).
var visitRows = `SELECT visitor_id AS visitor, session_id AS sid, min(time) AS first_at, count() AS n_events,
           ` + Pageviews.Events + ` AS pv, ` + orders.Pairs + ` AS pairs
    FROM events WHERE ` + eventsWhere + `
    GROUP BY visitor_id, session_id, if(session_id = '', toUInt32(time), 0)`

// touchRows are, per visitor, the touches (migration 0015) that may be
// credited with an event of the period, sorted by time: their times
// (t_at), session ids (t_sid) and values (t_val, tuples in touchDims'
// order), three arrays of one order.
var touchRows = `SELECT visitor, arrayMap(x -> tupleElement(x, 1), ts) AS t_at, arrayMap(x -> tupleElement(x, 2), ts) AS t_sid,
           arrayMap(x -> tupleElement(x, 3), ts) AS t_val
    FROM (
        SELECT visitor_id AS visitor,
               arraySort(groupArray((time, session_id, (source, medium, utm_source, utm_medium, utm_campaign, utm_term, utm_content, affiliate, click_id)))) AS ts
        FROM touches
        WHERE site_id = @site AND time >= @from - @window AND time < @to
        GROUP BY visitor_id
    ) AS l`

// creditedTouch is a visit's touch: its own session's first touch when it
// has one (own), else the visitor's last touch at most @window before the
// visit's first event (t_at is sorted: searched from the end, back), else
// direct. No lambda captures a column (ClickHouse 18.16 does not find a
// joined side's column from a lambda): the visit's time goes in as an
// array of its own (replicate).
const creditedTouch = `arrayPushFront(t_val, ` + direct + `)[1 + if(own > 0, own, if(back = 0, 0, toUInt64(length(t_at) + 1 - back)))]`

// fromVisits are the visits, each with its credited touch.
var fromVisits = source{overVisits, `(
    SELECT visitor, sid, n_events, pv, pairs, if(sid = '', 0, indexOf(t_sid, sid)) AS own,
           arrayFirstIndex((x, at) -> x <= at AND x + @window >= at, arrayReverse(t_at), replicate(first_at, t_at)) AS back,
           ` + creditedTouch + ` AS touch
    FROM (
    ` + visitRows + `
    ) AS e ANY LEFT JOIN (
    ` + touchRows + `
    ) AS t USING visitor
) AS a`}

// qAttributedBreakdown: one row per credited value of a landing's
// dimension ({{n}}, its place in touchDims).
var qAttributedBreakdown = chsql.New("reports.attributed_breakdown", statement("toString(tupleElement(touch, {{n}})) AS k", fromVisits, breakdownMetrics,
	"k", "ORDER BY m_visitors DESC, m_pageviews DESC, m_events DESC, k LIMIT @limit"))

// attributed is the statement of the breakdown by touch dimension n, its
// window added to args.
func attributed(n int, filters string, args chsql.Args) *chsql.Query {
	args["window"] = uint32(AttributionWindow / time.Second)
	return qAttributedBreakdown.With(map[string]string{"n": strconv.Itoa(n), "filters": filters})
}
