package reports

import (
	"context"
	"time"

	"footfall/internal/chsql"
)

// Point is one step of the overview's series.
type Point struct {
	Time      time.Time `json:"time"`
	Pageviews uint64    `json:"pageviews"`
	Visitors  uint64    `json:"visitors"`
}

// Row is one line of a top list.
type Row struct {
	Key      string `json:"key"`
	Visitors uint64 `json:"visitors"`
	Views    uint64 `json:"pageviews"`
}

// Traffic is the overview's traffic figures: the period's page views and
// visitors, their series per hour or day (Interval), and the top pages and
// sources.
type Traffic struct {
	Interval  string
	Pageviews uint64
	Visitors  uint64
	Series    []Point
	Pages     []Row
	Sources   []Row
}

// Rollups answer the overview: events_hourly the totals and series,
// pages_daily and sources_daily the top lists (periods are whole UTC
// days). They hold Pageviews and Visitors as aggregate states of the
// metrics' expressions, which these merge. Visitors come from their
// uniqHLL12 sketches (visitors_hll) on large sites: a month of them merges
// many times faster than the uniq states at a million visitors
// (docs/perf.md, "Reports"). Below exactBelow visitors the uniq states are small, cheap to
// merge and exact where a sketch is a few percent off, which a small site
// would notice (293 visitors for 300 new sessions). {{visitors}} is the
// visitors aggregate (visitorsAgg).
var (
	qTotals = chsql.New("reports.totals", `SELECT countIfMerge(pageviews), {{visitors}}
FROM events_hourly WHERE site_id = @site AND hour >= @from AND hour < @to`)
	qSeriesHour = chsql.New("reports.series_hour", `SELECT hour AS t, countIfMerge(pageviews), {{visitors}}
FROM events_hourly WHERE site_id = @site AND hour >= @from AND hour < @to GROUP BY t ORDER BY t`)
	qSeriesDay = chsql.New("reports.series_day", `SELECT toStartOfDay(hour) AS t, countIfMerge(pageviews), {{visitors}}
FROM events_hourly WHERE site_id = @site AND hour >= @from AND hour < @to GROUP BY t ORDER BY t`)
	// Pages are ranked by page views, cheap to add up; the visitor states
	// are merged for the ten shown only.
	qTopPages = chsql.New("reports.top_pages", `SELECT url_path, {{visitors}} AS v, countMerge(pageviews) AS pv
FROM pages_daily WHERE site_id = @site AND day >= @from AND day < @to AND url_path IN (
    SELECT url_path FROM pages_daily WHERE site_id = @site AND day >= @from AND day < @to
    GROUP BY url_path ORDER BY countMerge(pageviews) DESC, url_path LIMIT 10)
GROUP BY url_path ORDER BY pv DESC, url_path`)
	qTopSources = chsql.New("reports.top_sources", `SELECT source, {{visitors}} AS v, countIfMerge(pageviews) AS pv
FROM sources_daily WHERE site_id = @site AND day >= @from AND day < @to AND source != '(internal)'
GROUP BY source ORDER BY v DESC, source LIMIT 10`)
)

// exactBelow is the sketched visitor count under which the overview counts
// visitors exactly.
const exactBelow = 100_000

// visitorsAgg returns the visitors slot of events_hourly's statements and
// that of the daily tables': sketches, or the exact uniq states.
func visitorsAgg(exact bool) (hourly, daily map[string]string) {
	if exact {
		return map[string]string{"visitors": "uniqIfMerge(visitors)"}, map[string]string{"visitors": "uniqMerge(visitors)"}
	}
	return map[string]string{"visitors": "uniqHLL12IfMerge(visitors_hll)"}, map[string]string{"visitors": "uniqHLL12Merge(visitors_hll)"}
}

// Overview is the traffic of site over [from, to) from the rollups, its
// series per hour or day (interval; "" is hours for two days or less,
// days otherwise).
func Overview(ctx context.Context, db *chsql.Conn, site string, from, to time.Time, interval string) (Traffic, error) {
	if interval == "" {
		interval = "day"
		if to.Sub(from) <= 48*time.Hour {
			interval = "hour"
		}
	}
	series, step := qSeriesDay, 24*time.Hour
	switch interval {
	case "day":
	case "hour":
		series, step = qSeriesHour, time.Hour
	default:
		return Traffic{}, inputErrorf("interval must be hour or day")
	}
	tr := Traffic{Interval: interval, Series: []Point{}}
	hourly, daily := visitorsAgg(false)
	args := chsql.Args{"site": site, "from": from, "to": to}
	if err := db.QueryRow(ctx, qTotals.With(hourly), args).Scan(&tr.Pageviews, &tr.Visitors); err != nil {
		return tr, wrap("totals", err)
	}
	if tr.Visitors < exactBelow {
		hourly, daily = visitorsAgg(true)
		if err := db.QueryRow(ctx, qTotals.With(hourly), args).Scan(&tr.Pageviews, &tr.Visitors); err != nil {
			return tr, wrap("totals", err)
		}
	}
	err := each(ctx, db, series.With(hourly), args, func(scan func(...any) error) error {
		var p Point
		if err := scan(&p.Time, &p.Pageviews, &p.Visitors); err != nil {
			return err
		}
		tr.Series = append(tr.Series, p)
		return nil
	})
	if err != nil {
		return tr, wrap("series", err)
	}
	tr.Series = fill(tr.Series, from, to, step)
	// The daily tables are keyed by day: the period's whole UTC days.
	days := chsql.Args{"site": site, "from": chsql.Date(from), "to": chsql.Date(to)}
	if tr.Pages, err = top(ctx, db, qTopPages.With(daily), days); err != nil {
		return tr, wrap("top pages", err)
	}
	if tr.Sources, err = top(ctx, db, qTopSources.With(daily), days); err != nil {
		return tr, wrap("top sources", err)
	}
	return tr, nil
}

// fill returns one point per step from from to to, zero where the rollup
// had no row, so a chart shows quiet periods as quiet.
func fill(have []Point, from, to time.Time, step time.Duration) []Point {
	out := make([]Point, 0, int(to.Sub(from)/step))
	i := 0
	for t := from; t.Before(to); t = t.Add(step) {
		p := Point{Time: t}
		for i < len(have) && have[i].Time.Before(t) {
			i++
		}
		if i < len(have) && have[i].Time.Equal(t) {
			p = have[i]
		}
		out = append(out, p)
	}
	return out
}

func top(ctx context.Context, db *chsql.Conn, q *chsql.Query, args chsql.Args) ([]Row, error) {
	out := []Row{}
	err := each(ctx, db, q, args, func(scan func(...any) error) error {
		var r Row
		if err := scan(&r.Key, &r.Visitors, &r.Views); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}
