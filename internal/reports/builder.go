// Package reports answers the analyst's questions about a site's traffic:
// the breakdowns, time series and funnels over the raw events of a period,
// the overview's figures from the rollups, who is on the site now, and
// what affiliates and partner sites brought. It is the read side the
// dashboards' API serves over HTTP and cmd/bench times.
//
// Each figure is defined once, as a Metric (metrics.go: visitors, page
// views, sessions, events, orders, revenue, bounce rate, visit duration),
// each dimension and filter once (dims.go), and one builder (statement,
// below) composes every report's SELECT from them, in the manner of
// Plausible's stats layer. Orders and revenue are those of
// internal/orders, which the profiles, the campaign reports and the
// Grafana dashboard use too.
package reports

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/money"
)

// Query is what every report of events reads: a site's events of the
// period [From, To), narrowed by filters that all hold. Zone is the site's
// time zone (nil: UTC), in which a series rounds its steps and an answer
// shows its times.
type Query struct {
	Site     string
	From, To time.Time
	Filters  []Filter
	Zone     *time.Location
	// Currency is the site's reporting currency, which amounts are
	// converted to (currency.go); money.DefaultCurrency when "".
	Currency string
}

// where adds the site, the period and the filters' values to args and
// returns the filters' part of eventsWhere, for its {{filters}} slot.
func (q Query) where(args chsql.Args) string {
	args["site"], args["from"], args["to"] = q.Site, q.From, q.To
	return where(q.Filters, args)
}

// Table is a report's answer: named columns and rows of values.
type Table struct {
	Report  string    `json:"report"`
	Site    string    `json:"site"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Filters []string  `json:"filters"`
	Columns []string  `json:"columns"`
	Rows    [][]any   `json:"rows"`
	// Currency is the currency of the amounts; Unconverted what they
	// leave out for want of an exchange rate (currency.go).
	Currency    string              `json:"currency,omitempty"`
	Unconverted []money.Unconverted `json:"unconverted,omitempty"`
	// Sample, where not 0, says that the visitors are estimated from one
	// visitor in Sample (a funnel over a large period: Funnel, Sampling).
	Sample uint64 `json:"sample,omitempty"`
}

func (q Query) table(report string, columns ...string) Table {
	t := Table{Report: report, Site: q.Site, From: q.From.In(q.zone()), To: q.To.In(q.zone()), Columns: columns}
	for _, f := range q.Filters {
		t.Filters = append(t.Filters, f.String())
	}
	return t
}

// eventsWhere selects the site's human, on-site events of the period that
// pass the report's filters: parameters @site, @from and @to, and the
// filters in the {{filters}} slot (Query.where).
const eventsWhere = `site_id = @site AND time >= @from AND time < @to AND is_bot = 0 AND ingest != 'email'{{filters}}`

// EventOrder orders events as they happened, where time (whole seconds)
// does not: of the events of one second, argMin(x, time) takes whichever
// ClickHouse reads first, and 18.16 and current versions read them in
// different orders. It is the event's second in ten hex digits (adding
// 2^32 gives every DateTime the same width), then its id's text, whose
// order is the id's: its millisecond and a counter of the collector's ids
// in that millisecond (internal/event NewID), so a collector's events keep
// the order it received them in, then random bits, which make the order
// total. One String rather than the tuple (time, toString(event_id)):
// argMin compares a tuple as generic values, which doubled the CPU time
// of sessionRows over 10M generated events in 2M sessions (5.1 s to
// 10.2 s on 18.16), where this text adds 30% (6.6 s). Migration 0018 keys
// the states of sessions, identities and viewed_products, and the Grafana
// dashboard its entry pages, by the same text.
const EventOrder = `concat(hex(toUInt64(time) + 4294967296), toString(event_id))`

// sessionRows are the sessions of the report's events, one row each:
// visitor, started, duration (seconds from the first event to the last),
// entry_page and exit_page (first and last page view, in EventOrder), pv
// (page views). A session's pages are those of the period. ClickHouse
// reads only the columns a statement uses from it.
var sessionRows = `SELECT session_id, any(visitor_id) AS visitor, min(time) AS started, toUInt32(max(time) - min(time)) AS duration,
           argMinIf(url_path, ` + EventOrder + `, type = 'pageview') AS entry_page,
           argMaxIf(url_path, ` + EventOrder + `, type = 'pageview') AS exit_page,
           ` + Pageviews.Events + ` AS pv
    FROM events WHERE ` + eventsWhere + ` AND session_id != ''
    GROUP BY session_id`

// source is the rows a report's metrics aggregate: the filtered events,
// or one row per session of them.
type source struct {
	level level
	from  string
}

var (
	fromEvents   = source{overEvents, "events WHERE " + eventsWhere}
	fromSessions = source{overSessions, "(\n    " + sessionRows + "\n)"}
)

// statement is the one builder of the reports' SELECTs: keys (the
// grouping columns, aliased; "" for one row of totals), then metrics (a
// list of Metric, or a {{metrics}} slot filled at run time by selectList),
// over the rows of src, grouped by groupBy, then tail (ORDER BY, LIMIT).
func statement(keys string, src source, metrics []Metric, groupBy, tail string) string {
	var sb strings.Builder
	sb.WriteString("SELECT ")
	if keys != "" {
		sb.WriteString(keys + ", ")
	}
	if metrics == nil {
		sb.WriteString("{{metrics}}")
	} else {
		sb.WriteString(selectList(src.level, metrics))
	}
	sb.WriteString("\nFROM " + src.from)
	if groupBy != "" {
		sb.WriteString("\nGROUP BY " + groupBy)
	}
	if tail != "" {
		sb.WriteString("\n" + tail)
	}
	return sb.String()
}

// scanRow scans a row of keys then metrics ms into keys and returns the
// metrics' values, as the answers show them.
func scanRow(scan func(...any) error, ms []Metric, keys ...any) ([]any, error) {
	dests := append(make([]any, 0, len(keys)+len(ms)), keys...)
	for _, m := range ms {
		dests = append(dests, m.dest())
	}
	if err := scan(dests...); err != nil {
		return nil, err
	}
	vals := make([]any, len(ms))
	for i, m := range ms {
		vals[i] = m.value(dests[len(keys)+i])
	}
	return vals, nil
}

// each runs q and calls f with a scanner for each row. A row f refuses,
// or a failure of the query midway, is its error: never part of an answer.
func each(ctx context.Context, db *chsql.Conn, q *chsql.Query, args chsql.Args, f func(scan func(...any) error) error) error {
	rows, err := db.Query(ctx, q, args)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := f(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

func roundTo(x float64, places int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	f := math.Pow(10, float64(places))
	return math.Round(x*f) / f
}

// wrap says which of a report's statements failed; nil stays nil.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
