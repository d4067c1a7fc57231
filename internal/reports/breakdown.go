package reports

import (
	"context"

	"footfall/internal/chsql"
)

// The breakdowns' metrics, in their columns' order.
var (
	breakdownMetrics        = []Metric{Visitors, Pageviews, Sessions, Events, Orders, Revenue}
	sessionBreakdownMetrics = []Metric{Visitors, Sessions, Pageviews, BounceRate, VisitDuration}
)

// breakdownOrder ranks a breakdown's rows.
const breakdownOrder = "ORDER BY m_visitors DESC, m_pageviews DESC, m_events DESC, k LIMIT @limit"

// fromTypedSessions are the session rows with visitor_type: a visitor is
// returning when first seen before the session began.
var fromTypedSessions = source{overSessions, `(
    SELECT visitor, entry_page, exit_page, pv, duration, if(visitor_first_seen < started, 'returning', 'new') AS visitor_type
    FROM (
    ` + sessionRows + `
    ) AS s ANY LEFT JOIN (
        SELECT visitor_id AS visitor, minMerge(first_seen) AS visitor_first_seen FROM visitor_profiles
        WHERE site_id = @site AND visitor_id IN (SELECT visitor_id FROM events WHERE ` + eventsWhere + `)
        GROUP BY visitor_id
    ) AS v USING visitor
)`}

var (
	// qBreakdown: one row per value of an event dimension ({{dim}});
	// qBreakdownSketched, the same with visitors and sessions estimated,
	// for a site with exactBelow visitors or more in the period: at 10M
	// events (a million visitors) by page, 4.6 to 5.1 s of ClickHouse's
	// CPU against 7.7 to 8.5 s for a uniq state per page of each.
	qBreakdown = chsql.New("reports.breakdown", statement("toString({{dim}}) AS k", fromEvents, breakdownMetrics,
		"k", breakdownOrder))
	qBreakdownSketched = chsql.New("reports.breakdown_sketched", statement("toString({{dim}}) AS k", fromEvents, sketched(breakdownMetrics),
		"k", breakdownOrder))
	// qSessionBreakdown: sessions grouped by one of their own dimensions
	// ({{dim}}: entry_page, exit_page or visitor_type, a column of the rows).
	qSessionBreakdown = chsql.New("reports.session_breakdown", statement("{{dim}} AS k", fromTypedSessions, sessionBreakdownMetrics,
		"k", "ORDER BY m_sessions DESC, k LIMIT @limit"))
)

// Breakdown is the report of q's events per value of the dimension by, the
// limit values with the most visitors: visitors, page views, sessions,
// events, orders and revenue per value of an event dimension (for a
// dimension of what brought the visit, source, medium, utm_*, affiliate
// and click_id, the value the event's visit is credited with: dims);
// visitors, sessions, page views, bounce rate and mean visit duration per
// value of a session's (entry_page, exit_page, visitor_type). By prop,
// the same per key of the events' properties.
func Breakdown(ctx context.Context, db *chsql.Conn, q Query, by string, limit int) (Table, error) {
	args := chsql.Args{"limit": uint64(limit)}
	var stmt *chsql.Query
	var ms []Metric
	expr, isEvent := dimExpr(by, args)
	r, rolled := rollupFor(by, q.Filters)
	rolled = rolled && isEvent && useRollups
	events := qBreakdown
	if isEvent || by == "prop" {
		// A breakdown a rollup can answer starts on it beside the
		// totals that say whether the site is large enough for it
		// (rollup.go), not after them; on a smaller site its work is
		// dropped (cancelled) and the events answer.
		var early chan rolledAnswer
		drop := func() {}
		if rolled {
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			drop, early = cancel, make(chan rolledAnswer, 1)
			go func() {
				t := q.table("breakdown-"+by, append([]string{by}, names(breakdownMetrics)...)...)
				err := r.answer(rctx, db, q, expr, limit, &t)
				early <- rolledAnswer{t, err}
			}()
		}
		_, n, err := totals(ctx, db, q, false)
		if err != nil {
			return Table{}, err
		}
		switch {
		case n >= exactBelow && rolled:
			a := <-early
			return a.t, a.err
		case n >= exactBelow:
			events = qBreakdownSketched
		}
		drop()
	}
	switch {
	case by == "prop":
		// The keys of the events' properties, which the prop.<key>
		// dimensions read (an event with two keys counts under each; an
		// event without one under none).
		stmt, ms = events.With(map[string]string{"dim": "arrayJoin(prop_keys)", "filters": q.where(args)}), breakdownMetrics
	case isEvent:
		stmt, ms = events.With(map[string]string{"dim": expr, "filters": q.where(args)}), breakdownMetrics
	case sessionDims[by]:
		// by is one of sessionDims' names, a column of the rows.
		stmt, ms = qSessionBreakdown.With(map[string]string{"dim": by, "filters": q.where(args)}), sessionBreakdownMetrics
	default:
		return Table{}, inputErrorf("by: want one of %s", dimList())
	}
	t := q.table("breakdown-"+by, append([]string{by}, names(ms)...)...)
	err := each(ctx, db, stmt, q.priced(stmt, args), func(scan func(...any) error) error {
		var k string
		vals, err := scanRow(scan, ms, &k)
		if err != nil {
			return err
		}
		t.Rows = append(t.Rows, append([]any{k}, vals...))
		return nil
	})
	if err == nil && hasMoney(ms) {
		err = wrap("unconverted", q.unconverted(ctx, db, "events", &t))
	}
	return t, err
}
