package reports

import (
	"context"
	"fmt"
	"strings"
	"time"

	"footfall/internal/chsql"
)

// SeriesMetrics are a time series' metrics unless asked otherwise.
var SeriesMetrics = []Metric{Pageviews, Visitors, Sessions, BounceRate, VisitDuration}

// ParseMetrics reads a comma-separated list of metric names.
func ParseMetrics(list string) ([]Metric, error) {
	var out []Metric
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		m, ok := metrics[name]
		if !ok || seen[name] {
			return nil, inputErrorf("metrics: %q is not one, or twice: want some of pageviews, visitors, sessions, events, orders, revenue, bounce_rate, visit_duration_seconds", name)
		}
		seen[name] = true
		out = append(out, m)
	}
	return out, nil
}

// inSessions says whether a series computes m over session rows: the
// metrics of sessions only, and sessions themselves, which count in the
// step they began rather than in each step they span.
func inSessions(m Metric) bool { return m.Events == "" || m.Name == Sessions.Name }

// intervals are the steps of a time series, as ClickHouse rounds a time
// down to them in the site's zone (@tz, a literal: see zone.go), answered
// as instants in UTC: where a zone skips its midnight (America/Santiago on
// 6 September 2026) ClickHouse 18.16 writes the day's start as a
// 00:00:00 that the clock never showed and current ClickHouse as 01:00:00,
// the same instant; in UTC both write it alike.
// Hours are not ClickHouse's toStartOfHour but hourStep (zone.go), which
// begins them where the clock shows HH:00 in zones whose clocks move by
// half an hour too.
var intervals = map[string]string{
	"hour":  "", // hourStep
	"day":   "toTimeZone(toStartOfDay(%s, @tz), 'UTC')",
	"week":  "toTimeZone(toDateTime(toMonday(%s, @tz), @tz), 'UTC')",
	"month": "toTimeZone(toDateTime(toStartOfMonth(%s, @tz), @tz), 'UTC')",
	// The whole period as one step, which begins at its start: the
	// period's totals, narrowed by the same filters as every other report
	// (the dashboard's key figures when it is filtered).
	"period": "",
}

var (
	// qSeriesEvents: metrics of the events per step ({{step}}: the
	// event's time rounded down, as intervals say).
	qSeriesEvents = chsql.New("reports.series_events", statement("{{step}} AS k", fromEvents, nil, "k", "ORDER BY k"))
	// qSeriesSessions: metrics of the sessions per step they began in
	// ({{step}}: started rounded down).
	qSeriesSessions = chsql.New("reports.series_sessions", statement("{{step}} AS k", fromSessions, nil, "k", "ORDER BY k"))
)

// Series is the time series of q's events per hour, day, week (from
// Monday) or month (interval) of the site's clock (q.Zone): a row per
// step of the period, its start (a time in the zone) then the metrics ms
// (SeriesMetrics when nil), zero where nothing happened.
func Series(ctx context.Context, db *chsql.Conn, q Query, interval string, ms []Metric) (Table, error) {
	if ms == nil {
		ms = SeriesMetrics
	}
	bucket, ok := intervals[interval]
	if !ok {
		return Table{}, inputErrorf("interval: want hour, day, week, month or period")
	}
	if interval == "hour" && q.To.Sub(q.From) > 31*24*time.Hour {
		return Table{}, inputErrorf("interval hour: at most 31 days")
	}
	var evs, sess []Metric
	for _, m := range ms {
		if inSessions(m) {
			sess = append(sess, m)
		} else {
			evs = append(evs, m)
		}
	}
	steps := map[int64]map[string]any{} // by Unix time: ClickHouse's times come in its zone
	tz, err := ZoneName(q.Zone)
	if err != nil {
		return Table{}, inputErrorf("%v", err)
	}
	args := chsql.Args{}
	if interval != "hour" && interval != "period" { // hours: hourStep, of Go's numbers
		args["tz"] = tz
	}
	filters := q.where(args)
	run := func(stmt *chsql.Query, of level, at string, part []Metric) error {
		if len(part) == 0 {
			return nil
		}
		step := fmt.Sprintf(bucket, at)
		switch interval {
		case "hour":
			step = hourStep(at, q.From, q.To, q.zone())
		case "period":
			// A key that reads the rows: GROUP BY a constant answers one
			// row of zeros (nan for a ratio) on 18.16 where nothing
			// matches, and no row on current ClickHouse.
			step = "toDateTime(@from) + 0 * toUInt32(" + at + ")"
		}
		stmt = stmt.With(map[string]string{"step": step, "metrics": selectList(of, part), "filters": filters})
		return each(ctx, db, stmt, q.priced(stmt, args), func(scan func(...any) error) error {
			var start time.Time
			vals, err := scanRow(scan, part, &start)
			if err != nil {
				return err
			}
			s := steps[start.Unix()]
			if s == nil {
				s = map[string]any{}
				steps[start.Unix()] = s
			}
			for i, m := range part {
				s[m.Name] = vals[i]
			}
			return nil
		})
	}
	if err := run(qSeriesEvents, overEvents, "time", evs); err != nil {
		return Table{}, err
	}
	if err := run(qSeriesSessions, overSessions, "started", sess); err != nil {
		return Table{}, err
	}
	t := q.table("timeseries-"+interval, append([]string{"time"}, names(ms)...)...)
	for _, start := range stepsOf(interval, q.From, q.To, q.zone()) {
		row := []any{start}
		s := steps[start.Unix()]
		for _, m := range ms {
			v, ok := s[m.Name]
			if !ok {
				v = m.zero()
			}
			row = append(row, v)
		}
		t.Rows = append(t.Rows, row)
	}
	if hasMoney(evs) {
		if err := q.unconverted(ctx, db, "events", &t); err != nil {
			return Table{}, wrap("unconverted", err)
		}
	}
	return t, nil
}

// stepsOf lists the starts of the steps of interval that meet [from, to)
// on loc's clock, as ClickHouse 18.16 rounds them (toStartOfDay, toMonday,
// toStartOfMonth with the zone) and hourStep the hours: days, weeks and
// months begin at the first instant of their first date (DayStart), each
// computed from its date, never by adding 24 h to the one before (a day
// of 23 or 25 hours, or one that begins at 01:00, would shift every step
// after it). Hours begin at each HH:00 of the clock and at a change of
// the clock (nextHour): a day whose clocks change by an hour has 23 or 25
// of them, one whose clocks change by half an hour (Australia/Lord_Howe)
// a step of half an hour.
func stepsOf(interval string, from, to time.Time, loc *time.Location) []time.Time {
	l := from.In(loc)
	y, m, d := l.Date()
	switch interval {
	case "week":
		d -= (int(l.Weekday()) + 6) % 7
	case "month":
		d = 1
	}
	if interval == "period" {
		return []time.Time{from}
	}
	var out []time.Time
	for i := 0; ; i++ {
		var start, next time.Time
		switch interval {
		case "hour", "day":
			start, next = DayStart(y, m, d+i, loc), DayStart(y, m, d+i+1, loc)
		case "week":
			start, next = DayStart(y, m, d+7*i, loc), DayStart(y, m, d+7*i+7, loc)
		case "month":
			start, next = DayStart(y, m+time.Month(i), 1, loc), DayStart(y, m+time.Month(i+1), 1, loc)
		default:
			return nil
		}
		if !start.Before(to) {
			return out
		}
		if interval != "hour" {
			out = append(out, start)
			continue
		}
		for h := start; h.Before(next) && h.Before(to); h = nextHour(h, loc) {
			if nextHour(h, loc).After(from) {
				out = append(out, h)
			}
		}
	}
}
