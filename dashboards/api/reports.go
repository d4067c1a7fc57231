package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/csvexport"
	"footfall/internal/reports"
)

// The analyst's reports (internal/reports) over HTTP: breakdowns, time
// series, funnels and affiliates over the raw events of a period, narrowed
// by filters that combine, each answered as a table in JSON or, with
// format=csv, as a CSV file. The overview keeps to the rollups; these read
// the events, so any dimension can be combined with any filter.

// Table is a report's answer: named columns and rows of values.
type Table = reports.Table

// Realtime is who is on the site now.
type Realtime = reports.Realtime

// Commission prices the affiliates report.
type Commission = reports.Commission

// writeTable answers t as JSON, or as CSV when the request asks
// format=csv, named after the report and its period.
//
// dialect=excel-fr writes the file French Excel opens by a double click
// (csvexport.ExcelFR: ';', decimal commas, a byte order mark).
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
	if t.Sample > 0 {
		// An estimate says so where a script looks, whatever the format.
		w.Header().Set("Footfall-Sample", strconv.FormatUint(t.Sample, 10))
	}
	if !wantsCSV(r) {
		writeJSON(w, t)
		return
	}
	dialect := csvDialect(r)
	name := t.Report + "-" + t.Site
	if !t.From.IsZero() {
		name += "-" + t.From.Format(time.DateOnly) + "-" + t.To.Format(time.DateOnly)
	}
	if t.Sample > 0 {
		name += fmt.Sprintf("-sample-1-in-%d", t.Sample)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.csv"`, strings.ReplaceAll(name, ":", "-")))
	csvMoneyColumns(w, &t)
	out := csvexport.NewDialectWriter(w, dialect)
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
		return x.Format(time.RFC3339) // in the site's zone, with its offset
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// reportParams reads what every report of events reads: site, period
// and the repeated filter parameter.
func (a *API) reportParams(w http.ResponseWriter, r *http.Request) (reports.Query, bool) {
	var p reports.Query
	var ok bool
	if p.Site, ok = siteOf(w, r); !ok {
		return p, false
	}
	q := r.URL.Query()
	var err error
	p.Zone = a.zone(p.Site)
	p.Currency = a.currency(p.Site)
	if p.From, p.To, err = a.period(p.Zone, q.Get("from"), q.Get("to")); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return p, false
	}
	if p.Filters, err = parseFilters(q); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return p, false
	}
	return p, true
}

// parseFilters reads the repeated filter parameter.
func parseFilters(q url.Values) ([]reports.Filter, error) {
	return reports.ParseFilters(q["filter"])
}

// answer writes a report's table, or its error: 400 for a parameter the
// report refused, 500 for a failed query.
func (a *API) answer(w http.ResponseWriter, r *http.Request, what string, t Table, err error) {
	var bad *reports.InputError
	switch {
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, err)
	case err != nil:
		a.fail(w, what, err)
	default:
		writeTable(w, r, t)
	}
}

// breakdown answers GET /api/v1/breakdown?site=&from=&to=&by=source
// &filter=device==mobile&limit=50&format=csv.
func (a *API) breakdown(w http.ResponseWriter, r *http.Request) {
	p, ok := a.reportParams(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit, err := intParam(q.Get("limit"), 50, 1, 10_000)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("limit: %w", err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	t, err := reports.Breakdown(ctx, a.db, p, q.Get("by"), limit)
	a.answer(w, r, "breakdown", t, err)
}

// timeseries answers GET /api/v1/timeseries?site=&from=&to=&interval=day
// &filter=...&metrics=...: per hour, day, week (from Monday) or month, the
// metrics asked (by default page views, visitors, sessions, bounce rate
// and mean visit duration).
func (a *API) timeseries(w http.ResponseWriter, r *http.Request) {
	p, ok := a.reportParams(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	interval := q.Get("interval")
	if interval == "" {
		interval = "day"
	}
	var ms []reports.Metric
	if list := q.Get("metrics"); list != "" {
		var err error
		if ms, err = reports.ParseMetrics(list); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	t, err := reports.Series(ctx, a.db, p, interval, ms)
	a.answer(w, r, "timeseries", t, err)
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

// realtime answers GET /api/v1/realtime?site=: visitors and page views of
// the last 30 minutes, and their top pages.
func (a *API) realtime(w http.ResponseWriter, r *http.Request) {
	site, ok := siteOf(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	out, err := reports.Live(ctx, a.db, site, a.now())
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

// csvDialect is the CSV dialect a request asks for with ?dialect=
// (rfc4180, the default, or excel-fr: ';', decimal commas, a byte order
// mark, for French Excel), the same on every CSV the API writes. An
// unknown one never gets here: guardSite answers it 400 (plainQuery)
// before a route runs its queries.
func csvDialect(r *http.Request) csvexport.Dialect {
	d, _ := csvexport.ParseDialect(r.URL.Query().Get("dialect"))
	return d
}

var errBadDialect = errors.New("dialect: want rfc4180 (the default) or excel-fr")
