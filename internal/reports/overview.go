package reports

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

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
// pages_daily and sources_daily the top lists. They hold Pageviews and
// Visitors as aggregate states of the metrics' expressions, which these
// merge. Visitors come from their uniqHLL12 sketches (visitors_hll) on
// large sites: a month of them merges many times faster than the uniq
// states at a million visitors (docs/perf.md, "Reports"). Below exactBelow
// visitors the uniq states are small, cheap to merge and exact where a
// sketch is a few percent off, which a small site would notice (293
// visitors for 300 new sessions). {{visitors}} is the visitors aggregate
// (visitorsAgg).
//
// The site's days are not UTC's: the rollups' UTC hours and days are
// re-bucketed in the site's zone (@tz, {{step}}), and what they cannot
// answer is read from the events, as states of the same expressions
// merged with the rollup's (split.go): the UTC hours that a step or the
// period's edge cuts (none for a zone whose offset is whole hours; the
// :30 hours in Asia/Kolkata) and, for the daily top lists, the parts of
// UTC days at the period's ends.
const (
	hourlyRows = `SELECT hour AS at, pageviews, visitors, visitors_hll FROM events_hourly
    WHERE site_id = @site AND hour >= @hfrom AND hour < @hto AND hour NOT IN @cut
    UNION ALL
    SELECT toStartOfFifteenMinutes(time) AS at, countIfState(type = 'pageview' AND is_bot = 0) AS pageviews,
           uniqIfState(visitor_id, is_bot = 0 AND ` + CountedVisitor + `) AS visitors,
           uniqHLL12IfState(visitor_id, is_bot = 0 AND ` + CountedVisitor + `) AS visitors_hll
    FROM events WHERE site_id = @site AND ingest != 'email' AND ({{raw}})
    GROUP BY at`
	pagesRows = `SELECT url_path, pageviews, visitors, visitors_hll FROM pages_daily
    WHERE site_id = @site AND day >= @dfrom AND day < @dto
    UNION ALL
    SELECT url_path, countState() AS pageviews, uniqState(visitor_id) AS visitors, uniqHLL12State(visitor_id) AS visitors_hll
    FROM events WHERE site_id = @site AND type = 'pageview' AND is_bot = 0 AND ({{raw}})
    GROUP BY url_path`
	sourcesRows = `SELECT source, pageviews, visitors, visitors_hll FROM sources_daily
    WHERE site_id = @site AND day >= @dfrom AND day < @dto
    UNION ALL
    SELECT visit_source AS source, countIfState(type = 'pageview') AS pageviews, uniqState(visitor_id) AS visitors,
           uniqHLL12State(visitor_id) AS visitors_hll
    FROM events WHERE site_id = @site AND is_bot = 0 AND ingest != 'email' AND ` + CountedVisitor + ` AND ({{raw}})
    GROUP BY source`
)

var (
	qTotals = chsql.New("reports.totals", `SELECT countIfMerge(pageviews), {{visitors}}
FROM (
    `+hourlyRows+`
)`)
	// qSeries: {{step}} rounds the hour at down to the series' step.
	qSeries = chsql.New("reports.series", `SELECT {{step}} AS t, countIfMerge(pageviews), {{visitors}}
FROM (
    `+hourlyRows+`
)
GROUP BY t ORDER BY t`)
	// Pages are ranked by page views, cheap to add up; the visitor states
	// are merged for the ten shown only.
	qTopPages = chsql.New("reports.top_pages", `SELECT url_path, {{visitors}} AS v, countMerge(pageviews) AS pv
FROM (
    `+pagesRows+`
) AS p WHERE url_path IN (
    SELECT url_path FROM (
    `+pagesRows+`
    ) AS r
    GROUP BY url_path ORDER BY countMerge(pageviews) DESC, url_path LIMIT 10)
GROUP BY url_path ORDER BY pv DESC, url_path`)
	qTopSources = chsql.New("reports.top_sources", `SELECT source, {{visitors}} AS v, countIfMerge(pageviews) AS pv
FROM (
    `+sourcesRows+`
) AS s WHERE source != '(internal)'
GROUP BY source ORDER BY v DESC, source LIMIT 10`)
)

// exactBelow is the sketched visitor count of a site's period under which
// the overview and the breakdowns count visitors (and the breakdowns
// sessions) exactly. A variable for the tests (SetExactBelow).
var exactBelow uint64 = 100_000

// visitorsAgg returns the visitors slot of events_hourly's statements and
// that of the daily tables': sketches, or the exact uniq states.
func visitorsAgg(exact bool) (hourly, daily map[string]string) {
	if exact {
		return map[string]string{"visitors": "uniqIfMerge(visitors)"}, map[string]string{"visitors": "uniqMerge(visitors)"}
	}
	return map[string]string{"visitors": "uniqHLL12IfMerge(visitors_hll)"}, map[string]string{"visitors": "uniqHLL12Merge(visitors_hll)"}
}

// totals are the page views and visitors of q's site over [q.From, q.To),
// q's filters aside, from the rollups (a month in tens of milliseconds):
// the visitors sketched, or exactly (visitorsAgg).
func totals(ctx context.Context, db *chsql.Conn, q Query, exact bool) (pageviews, visitors uint64, err error) {
	hourly, _ := visitorsAgg(exact)
	split := hourSplit(q.Site, q.From, q.To, nil)
	err = db.QueryRow(ctx, qTotals.With(withRaw(hourly, split)), split.args).Scan(&pageviews, &visitors)
	return pageviews, visitors, wrap("totals", err)
}

// Overview is the traffic of site over [from, to) in UTC: OverviewOf
// with no zone.
func Overview(ctx context.Context, db *chsql.Conn, site string, from, to time.Time, interval string) (Traffic, error) {
	return OverviewOf(ctx, db, Query{Site: site, From: from, To: to}, interval)
}

// OverviewOf is the traffic of q's site over [q.From, q.To) from the
// rollups (q's filters aside), its series per hour or day of the site's
// clock (q.Zone; interval "" is hours for two days or less, days
// otherwise).
func OverviewOf(ctx context.Context, db *chsql.Conn, q Query, interval string) (Traffic, error) {
	from, to, loc := q.From, q.To, q.zone()
	if interval == "" {
		interval = "day"
		if to.Sub(from) <= 48*time.Hour {
			interval = "hour"
		}
	}
	tz, err := ZoneName(q.Zone)
	if err != nil {
		return Traffic{}, inputErrorf("%v", err)
	}
	// In UTC, as intervals (series.go) says why.
	step := map[string]string{"hour": hourStep("at", from, to, loc), "day": "toTimeZone(toStartOfDay(at, @tz), 'UTC')"}[interval]
	if step == "" {
		return Traffic{}, inputErrorf("interval must be hour or day")
	}
	tr := Traffic{Interval: interval, Series: []Point{}}
	hourly, daily := visitorsAgg(false)
	if tr.Pageviews, tr.Visitors, err = totals(ctx, db, q, false); err != nil {
		return Traffic{}, err
	}
	if tr.Visitors < exactBelow {
		hourly, daily = visitorsAgg(true)
		if tr.Pageviews, tr.Visitors, err = totals(ctx, db, q, true); err != nil {
			return Traffic{}, err
		}
	}
	stepOf := func(t time.Time) time.Time { return localHour(t, loc) }
	if interval == "day" {
		stepOf = func(t time.Time) time.Time { return LocalDay(t, loc) }
	}
	series := hourSplit(q.Site, from, to, stepOf)
	if interval != "hour" { // hours: hourStep, of Go's numbers
		series.args["tz"] = tz
	}
	slots := withRaw(hourly, series)
	slots["step"] = step
	// The series and the top lists read different rollups: side by side,
	// each statement on a connection of its own (a month at 10M events:
	// 40 to 90 ms each on 18.16).
	days := daySplit(q.Site, from, to)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		tr.Pages, err = top(gctx, db, qTopPages.With(withRaw(daily, days)), days.args)
		return wrap("top pages", err)
	})
	g.Go(func() (err error) {
		tr.Sources, err = top(gctx, db, qTopSources.With(withRaw(daily, days)), days.args)
		return wrap("top sources", err)
	})
	steps := map[int64]Point{}
	g.Go(func() error {
		return wrap("series", each(gctx, db, qSeries.With(slots), series.args, func(scan func(...any) error) error {
			var p Point
			if err := scan(&p.Time, &p.Pageviews, &p.Visitors); err != nil {
				return err
			}
			steps[p.Time.Unix()] = p
			return nil
		}))
	})
	if err := g.Wait(); err != nil {
		return Traffic{}, err
	}
	for _, t := range stepsOf(interval, from, to, loc) {
		p := steps[t.Unix()]
		p.Time = t
		tr.Series = append(tr.Series, p)
	}
	return tr, nil
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
