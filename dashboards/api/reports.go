package api

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"footfall/internal/chsql"
)

// The analyst's reports: breakdowns, time series and funnels over the raw
// events of a period, narrowed by filters that combine, each answered as
// a table in JSON or, with format=csv, as a CSV file. The overview keeps to
// the rollups; these read the events, so any dimension can be combined
// with any filter.

// dims are the dimensions a report breaks down or filters by, as
// expressions over the events table.
var dims = map[string]string{
	"page":         "url_path",
	"section":      "concat('/', splitByChar('/', url_path)[2])",
	"host":         "url_host",
	"referrer":     "referrer_host",
	"source":       "source",
	"medium":       "medium",
	"utm_source":   "utm_source",
	"utm_medium":   "utm_medium",
	"utm_campaign": "utm_campaign",
	"utm_content":  "utm_content",
	"utm_term":     "utm_term",
	"affiliate":    "affiliate",
	"browser":      "browser",
	"os":           "os",
	"device":       "device",
	"country":      "country",
	"type":         "type",
	"event":        "name",
}

// propKey is the shape of an event property a report may use as a
// dimension, prop.<key>.
var propKey = regexp.MustCompile(`^prop\.[A-Za-z0-9_-]{1,64}$`)

// isDim says whether name is an event dimension.
func isDim(name string) bool {
	_, ok := dims[name]
	return ok || propKey.MatchString(name)
}

// dimExpr is the expression of an event dimension, or false. A property's
// key is a parameter, added to args (param).
func dimExpr(name string, args chsql.Args) (string, bool) {
	if propKey.MatchString(name) {
		return "prop_values[indexOf(prop_keys, " + param(args, strings.TrimPrefix(name, "prop.")) + ")]", true
	}
	expr, ok := dims[name]
	return expr, ok
}

// param adds v to args under the first free generated name, f0, f1, ...,
// and returns its reference (@f0): the values of SQL composed at run time
// (filters, a property's key) go in parameters like any other.
func param(args chsql.Args, v any) string {
	for i := 0; ; i++ {
		name := "f" + strconv.Itoa(i)
		if _, taken := args[name]; !taken {
			args[name] = v
			return "@" + name
		}
	}
}

// sessionDims are dimensions of a whole session: its first and last page
// view, and whether its visitor had been seen before it.
var sessionDims = map[string]bool{"entry_page": true, "exit_page": true, "visitor_type": true}

// Filter is one condition of a report: dim==value, dim!=value, or
// dim^=prefix (starts with).
type Filter struct {
	Dim, Op, Value string
}

var filterOps = []string{"==", "!=", "^="}

// parseFilters reads the repeated filter parameter.
func parseFilters(q url.Values) ([]Filter, error) {
	var out []Filter
	for _, raw := range q["filter"] {
		f, err := parseFilter(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func parseFilter(raw string) (Filter, error) {
	// The first operator in the text splits it: a value may hold "==".
	at, op := -1, ""
	for _, o := range filterOps {
		if i := strings.Index(raw, o); i > 0 && (at < 0 || i < at) {
			at, op = i, o
		}
	}
	if at < 0 {
		return Filter{}, fmt.Errorf("filter %q: want dimension==value, dimension!=value or dimension^=prefix", raw)
	}
	f := Filter{Dim: raw[:at], Op: op, Value: raw[at+len(op):]}
	if !isDim(f.Dim) {
		return f, fmt.Errorf("filter %q: unknown dimension %q, want one of %s", raw, f.Dim, dimList())
	}
	return f, nil
}

// where is the condition of filters over the events, " AND <condition>"
// for each, their values added to args under generated names (param), so
// that the conditions of several lists of filters can go in one statement.
func where(filters []Filter, args chsql.Args) string {
	var sb strings.Builder
	for _, f := range filters {
		expr, _ := dimExpr(f.Dim, args)
		v := param(args, f.Value)
		switch f.Op {
		case "==":
			sb.WriteString(" AND " + expr + " = " + v)
		case "!=":
			sb.WriteString(" AND " + expr + " != " + v)
		case "^=":
			sb.WriteString(" AND startsWith(" + expr + ", " + v + ")")
		}
	}
	return sb.String()
}

func dimList() string {
	var names []string
	for k := range dims {
		names = append(names, k)
	}
	for k := range sessionDims {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ") + ", prop.<property key>"
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
}

// writeTable answers t as JSON, or as CSV when the request asks
// format=csv, named after the report and its period.
//
// Reports with a JSON shape of their own (overview, lifecycle, campaigns,
// segment sizes) answer format=csv through it too.
func writeTable(w http.ResponseWriter, r *http.Request, t Table) {
	if t.Rows == nil {
		t.Rows = [][]any{}
	}
	if t.Filters == nil {
		t.Filters = []string{}
	}
	if !wantsCSV(r) {
		writeJSON(w, t)
		return
	}
	name := t.Report + "-" + t.Site
	if !t.From.IsZero() {
		name += "-" + t.From.Format(time.DateOnly) + "-" + t.To.Format(time.DateOnly)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.csv"`, strings.ReplaceAll(name, ":", "-")))
	out := csv.NewWriter(w)
	out.Write(t.Columns)
	line := make([]string, len(t.Columns))
	for _, row := range t.Rows {
		for i, v := range row {
			line[i] = csvValue(v)
		}
		out.Write(line)
	}
	out.Flush()
}

// wantsCSV says whether the request asks for a CSV file.
func wantsCSV(r *http.Request) bool { return r.URL.Query().Get("format") == "csv" }

func csvValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// reportParams are what every report reads: site, period and filters.
type reportParams struct {
	site     string
	from, to time.Time
	filters  []Filter
}

func (a *API) reportParams(w http.ResponseWriter, r *http.Request) (reportParams, bool) {
	var p reportParams
	var ok bool
	if p.site, ok = siteOf(w, r); !ok {
		return p, false
	}
	q := r.URL.Query()
	var err error
	if p.from, p.to, err = a.period(q.Get("from"), q.Get("to")); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return p, false
	}
	if p.filters, err = parseFilters(q); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return p, false
	}
	return p, true
}

func (p reportParams) table(report string, columns ...string) Table {
	t := Table{Report: report, Site: p.site, From: p.from, To: p.to, Columns: columns}
	for _, f := range p.filters {
		t.Filters = append(t.Filters, f.Dim+f.Op+f.Value)
	}
	return t
}

// eventsWhere selects the site's human, on-site events of the period that
// pass the report's filters: parameters @site, @from and @to, and the
// filters in the {{filters}} slot (reportParams.where).
const eventsWhere = `site_id = @site AND time >= @from AND time < @to AND is_bot = 0 AND ingest != 'email'{{filters}}`

// where adds the site, the period and the filters' values to args and
// returns the filters' part of eventsWhere, for its {{filters}} slot.
func (p reportParams) where(args chsql.Args) string {
	args["site"], args["from"], args["to"] = p.site, p.from, p.to
	return where(p.filters, args)
}

var (
	// qBreakdown: one row per value of a dimension. Revenue is in
	// currency units.
	qBreakdown = chsql.New("api.breakdown", `SELECT toString({{dim}}) AS k, uniq(visitor_id) AS visitors, countIf(type = 'pageview') AS pageviews,
       uniqIf(session_id, session_id != '') AS sessions, count() AS event_count,
       uniqExactIf(order_id, type = 'purchase' AND order_id != '') AS orders,
       sumIf(revenue_micros, type = 'purchase') / 1e6 AS revenue
FROM events WHERE `+eventsWhere+`
GROUP BY k ORDER BY visitors DESC, pageviews DESC, event_count DESC, k LIMIT @limit`)
	// qSessionBreakdown: sessions grouped by one of their own dimensions
	// ({{dim}}: entry_page, exit_page or visitor_type). A session's pages
	// are those of the period; a visitor is returning when first seen
	// before the session began.
	qSessionBreakdown = chsql.New("api.session_breakdown", `SELECT {{dim}} AS k, uniq(visitor) AS visitors, count() AS sessions, sum(pv) AS pageviews,
       countIf(pv <= 1) / count() AS bounce_rate, avg(duration) AS visit_duration
FROM (
    SELECT visitor, entry_page, exit_page, pv, duration, if(visitor_first_seen < started, 'returning', 'new') AS visitor_type
    FROM (
        SELECT session_id, any(visitor_id) AS visitor, min(time) AS started, toUInt32(max(time) - min(time)) AS duration,
               argMinIf(url_path, time, type = 'pageview') AS entry_page, argMaxIf(url_path, time, type = 'pageview') AS exit_page,
               countIf(type = 'pageview') AS pv
        FROM events WHERE `+eventsWhere+` AND session_id != ''
        GROUP BY session_id
    ) AS s ANY LEFT JOIN (
        SELECT visitor_id AS visitor, minMerge(first_seen) AS visitor_first_seen FROM visitor_profiles
        WHERE site_id = @site AND visitor_id IN (SELECT visitor_id FROM events WHERE `+eventsWhere+`)
        GROUP BY visitor_id
    ) AS v USING visitor
)
GROUP BY k ORDER BY sessions DESC, k LIMIT @limit`)
)

// breakdown answers GET /api/v1/breakdown?site=&from=&to=&by=source
// &filter=device==mobile&limit=50&format=csv.
func (a *API) breakdown(w http.ResponseWriter, r *http.Request) {
	p, ok := a.reportParams(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	by := q.Get("by")
	limit, err := intParam(q.Get("limit"), 50, 1, 10_000)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("limit: %w", err))
		return
	}
	args := chsql.Args{"limit": uint64(limit)}
	var query *chsql.Query
	var t Table
	switch expr, isEvent := dimExpr(by, args); {
	case isEvent:
		query = qBreakdown.With(map[string]string{"dim": expr, "filters": p.where(args)})
		t = p.table("breakdown-"+by, by, "visitors", "pageviews", "sessions", "events", "orders", "revenue")
	case sessionDims[by]:
		// by is one of sessionDims' names, a column of the statement.
		query = qSessionBreakdown.With(map[string]string{"dim": by, "filters": p.where(args)})
		t = p.table("breakdown-"+by, by, "visitors", "sessions", "pageviews", "bounce_rate", "visit_duration_seconds")
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("by: want one of %s", dimList()))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	err = a.each(ctx, query, args, func(scan func(...any) error) error {
		var k string
		if sessionDims[by] {
			var visitors, sessions, pageviews uint64
			var bounce, duration float64
			if err := scan(&k, &visitors, &sessions, &pageviews, &bounce, &duration); err != nil {
				return err
			}
			t.Rows = append(t.Rows, []any{k, visitors, sessions, pageviews, roundTo(bounce, 4), roundTo(duration, 1)})
			return nil
		}
		var visitors, pageviews, sessions, events, orders uint64
		var revenue float64
		if err := scan(&k, &visitors, &pageviews, &sessions, &events, &orders, &revenue); err != nil {
			return err
		}
		t.Rows = append(t.Rows, []any{k, visitors, pageviews, sessions, events, orders, roundTo(revenue, 2)})
		return nil
	})
	if err != nil {
		a.fail(w, "breakdown", err)
		return
	}
	writeTable(w, r, t)
}

// intervals are the steps of a time series, as ClickHouse rounds a time
// down to them.
var intervals = map[string]string{
	"hour":  "toStartOfHour(%s)",
	"day":   "toDateTime(toDate(%s))",
	"week":  "toDateTime(toMonday(%s))",
	"month": "toDateTime(toStartOfMonth(%s))",
}

var (
	// qSeriesEvents: page views and visitors per step ({{step}}: the
	// event's time rounded down, as intervals say).
	qSeriesEvents = chsql.New("api.series_events", `SELECT {{step}} AS t, countIf(type = 'pageview'), uniq(visitor_id)
FROM events WHERE `+eventsWhere+` GROUP BY t ORDER BY t`)
	// qSeriesSessions: sessions count in the step they began in ({{step}}:
	// started rounded down).
	qSeriesSessions = chsql.New("api.series_sessions", `SELECT {{step}} AS t, count(), countIf(pv <= 1), sum(duration) FROM (
    SELECT min(time) AS started, toUInt32(max(time) - min(time)) AS duration, countIf(type = 'pageview') AS pv
    FROM events WHERE `+eventsWhere+` AND session_id != '' GROUP BY session_id
)
GROUP BY t ORDER BY t`)
)

// timeseries answers GET /api/v1/timeseries?site=&from=&to=&interval=day
// &filter=...: page views, visitors, sessions, bounce rate and mean visit
// duration per hour, day, week (from Monday) or month.
func (a *API) timeseries(w http.ResponseWriter, r *http.Request) {
	p, ok := a.reportParams(w, r)
	if !ok {
		return
	}
	interval := r.URL.Query().Get("interval")
	if interval == "" {
		interval = "day"
	}
	bucket, ok := intervals[interval]
	if !ok {
		writeError(w, http.StatusBadRequest, errors.New("interval: want hour, day, week or month"))
		return
	}
	if interval == "hour" && p.to.Sub(p.from) > 31*24*time.Hour {
		writeError(w, http.StatusBadRequest, errors.New("interval hour: at most 31 days"))
		return
	}
	type step struct {
		pageviews, visitors, sessions, bounces uint64
		duration                               uint64
	}
	steps := map[int64]*step{} // by Unix time: ClickHouse's times come in its zone
	at := func(t time.Time) *step {
		s := steps[t.Unix()]
		if s == nil {
			s = &step{}
			steps[t.Unix()] = s
		}
		return s
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	args := chsql.Args{}
	filters := p.where(args)
	events := qSeriesEvents.With(map[string]string{"step": fmt.Sprintf(bucket, "time"), "filters": filters})
	err := a.each(ctx, events, args, func(sc func(...any) error) error {
		var t time.Time
		var pv, v uint64
		if err := sc(&t, &pv, &v); err != nil {
			return err
		}
		s := at(t)
		s.pageviews, s.visitors = pv, v
		return nil
	})
	if err == nil {
		sessions := qSeriesSessions.With(map[string]string{"step": fmt.Sprintf(bucket, "started"), "filters": filters})
		err = a.each(ctx, sessions, args, func(sc func(...any) error) error {
			var t time.Time
			var n, b, d uint64
			if err := sc(&t, &n, &b, &d); err != nil {
				return err
			}
			s := at(t)
			s.sessions, s.bounces, s.duration = n, b, d
			return nil
		})
	}
	if err != nil {
		a.fail(w, "timeseries", err)
		return
	}
	t := p.table("timeseries-"+interval, "time", "pageviews", "visitors", "sessions", "bounce_rate", "visit_duration_seconds")
	for _, start := range stepsOf(interval, p.from, p.to) {
		s := at(start)
		var bounce, duration float64
		if s.sessions > 0 {
			bounce = float64(s.bounces) / float64(s.sessions)
			duration = float64(s.duration) / float64(s.sessions)
		}
		t.Rows = append(t.Rows, []any{start, s.pageviews, s.visitors, s.sessions, roundTo(bounce, 4), roundTo(duration, 1)})
	}
	writeTable(w, r, t)
}

// stepsOf lists the starts of the steps of interval that meet [from, to).
func stepsOf(interval string, from, to time.Time) []time.Time {
	start := from
	switch interval {
	case "hour":
		start = from.Truncate(time.Hour)
	case "day":
		start = from.Truncate(24 * time.Hour)
	case "week":
		start = from.Truncate(24 * time.Hour)
		start = start.AddDate(0, 0, -((int(start.Weekday()) + 6) % 7))
	case "month":
		start = time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	var out []time.Time
	for t := start; t.Before(to); {
		out = append(out, t)
		switch interval {
		case "hour":
			t = t.Add(time.Hour)
		case "day":
			t = t.AddDate(0, 0, 1)
		case "week":
			t = t.AddDate(0, 0, 7)
		case "month":
			t = t.AddDate(0, 1, 0)
		}
	}
	return out
}

// each runs q and calls f with a scanner for each row. A row f refuses,
// or a failure of the query midway, is its error: never part of an answer.
func (a *API) each(ctx context.Context, q *chsql.Query, args chsql.Args, f func(scan func(...any) error) error) error {
	rows, err := a.db.Query(ctx, q, args)
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

func intParam(s string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want a whole number from %d to %d", lo, hi)
	}
	return n, nil
}

func roundTo(x float64, places int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	f := math.Pow(10, float64(places))
	return math.Round(x*f) / f
}

var (
	// The last 30 minutes: the time index reads only them.
	qRealtime = chsql.New("api.realtime", `SELECT uniq(visitor_id), countIf(type = 'pageview') FROM events
WHERE site_id = @site AND time >= @since AND is_bot = 0 AND ingest != 'email'`)
	qRealtimePages = chsql.New("api.realtime_pages", `SELECT url_path, uniq(visitor_id) AS v FROM events
WHERE site_id = @site AND time >= @since AND is_bot = 0 AND ingest != 'email' AND type = 'pageview'
GROUP BY url_path ORDER BY v DESC, url_path LIMIT 10`)
)

// Realtime is who is on the site now.
type Realtime struct {
	Site      string `json:"site"`
	Minutes   int    `json:"minutes"`
	Visitors  uint64 `json:"visitors"`
	Pageviews uint64 `json:"pageviews"`
	Pages     []Row  `json:"top_pages"`
}

// realtime answers GET /api/v1/realtime?site=: visitors and page views of
// the last 30 minutes, and their top pages.
func (a *API) realtime(w http.ResponseWriter, r *http.Request) {
	site, ok := siteOf(w, r)
	if !ok {
		return
	}
	since := a.now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	out := Realtime{Site: site, Minutes: 30, Pages: []Row{}}
	args := chsql.Args{"site": site, "since": since}
	if err := a.db.QueryRow(ctx, qRealtime, args).Scan(&out.Visitors, &out.Pageviews); err != nil {
		a.fail(w, "realtime", err)
		return
	}
	err := a.each(ctx, qRealtimePages, args, func(sc func(...any) error) error {
		var row Row
		if err := sc(&row.Key, &row.Visitors); err != nil {
			return err
		}
		out.Pages = append(out.Pages, row)
		return nil
	})
	if err != nil {
		a.fail(w, "realtime", err)
		return
	}
	if wantsCSV(r) {
		t := Table{Report: "realtime", Site: site, Columns: []string{"page", "visitors"}}
		for _, p := range out.Pages {
			t.Rows = append(t.Rows, []any{p.Key, p.Visitors})
		}
		writeTable(w, r, t)
		return
	}
	writeJSON(w, out)
}
