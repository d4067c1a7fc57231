// Package sessionstats keeps sessions_hourly: per site and hour, the
// sessions that began in it, how many were their visitor's first, how many
// bounced and how long they lasted. The overview sums a row an hour from it
// instead of merging every session of the site.
//
// A session's start, page views and length are known only once its events
// are in, so a view cannot count it; a refresh recomputes the sessions that
// had new events since the last refresh (sessions_touched), writes each
// one's figures to session_summaries, and sums again the hours those
// sessions have rows in. The processor refreshes (processor/derive); the
// dashboards only read, on a connection that cannot write.
package sessionstats

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/refresh"
)

// Stats sums up the sessions that began in a period.
type Stats struct {
	Sessions    uint64
	NewSessions uint64 // the visitor was first seen in the session
	Bounces     uint64 // one page view or none
	Duration    uint64 // seconds from first to last event, summed
}

// add adds o's figures to st's.
func (st *Stats) add(o Stats) {
	st.Sessions += o.Sessions
	st.NewSessions += o.NewSessions
	st.Bounces += o.Bounces
	st.Duration += o.Duration
}

// Store reads and refreshes the session statistics of one database.
type Store struct {
	db         *chsql.Conn
	refreshing sync.Mutex
}

// NewStore returns a Store on db. Period only reads, so db may be a
// read-only connection; Refresh needs one that writes.
func NewStore(db *chsql.Conn) *Store {
	return &Store{db: db}
}

// maxHours is how many touched hours an incremental refresh reads around;
// past it the site is recomputed whole, one pass being cheaper than many
// ranges.
const maxHours = 48

// span is how long a session may last and still be read whole: a
// recomputation reads the session parts from a day before the hours to a
// day after.
const span = 24 * time.Hour

// merged is each session with parts in some hours, merged over the hours
// around them. Parameters: @site, @from, @to, @hours.
const merged = `SELECT anyMerge(visitor_id) AS visitor_id, minMerge(started_at) AS started_at,
           maxMerge(ended_at) AS ended_at, countIfMerge(pageviews) AS pageviews
    FROM session_parts WHERE site_id = @site AND hour >= @from AND hour < @to
        AND session_id IN (SELECT session_id FROM session_parts WHERE site_id = @site AND hour IN @hours)
    GROUP BY session_id`

// touched is the sessions with events in the touched hours @touched from
// @since to @upto (the refresh's start, by the server's clock, so that
// the statements of one refresh name the same sessions but for those of
// its last second). A session touched in another hour or later (an
// insert after the hours were read) waits for the next refresh, which
// reads it whole.
const touched = `SELECT session_id FROM sessions_touched WHERE site_id = @site AND touched_at >= @since AND touched_at <= @upto AND hour IN @touched`

// summaries is the figures of the sessions {{range}} picks, a row per hour
// from each one's first hour with events to its last: the hour it began in
// carries sessions = 1 and its figures, with its visitor's first sighting
// ({{visitors}} narrows the visitors read); its other hours carry zeros,
// which replace the row of an hour it began in before a late, earlier
// event moved its start. Every hour between the first and the last, not
// only those with parts: an array of a session's hours per session cost a
// whole rebuild 30% more memory (3.2 against 2.5 GB at 10M events), and a
// session with an hour without events between two with is rare (a
// snippet's session ends after 30 minutes without one, by default); at
// most 49 hours (176,400 s), twice span: a session id a sender reuses for
// a year would otherwise make a row an hour. Both
// sides of the join are aliased, as current ClickHouse requires. {{extra}}
// and {{profile}} add the visitor, their first sighting and how many
// sessions they have.
const summaries = `SELECT part_hour AS hour, session_id, started_at, toUInt8(part_hour = start_hour) AS sessions,
       toUInt8(part_hour = start_hour AND first_seen >= started_at) AS new_sessions,
       toUInt8(part_hour = start_hour AND pageviews <= 1) AS bounces,
       toUInt32(if(part_hour = start_hour, ended_at - started_at, 0)) AS duration{{extra}}
FROM (
    SELECT session_id, visitor_id, started_at, ended_at, pageviews, toStartOfHour(started_at) AS start_hour, part_hour
    FROM (
        SELECT session_id, anyMerge(visitor_id) AS visitor_id, minMerge(started_at) AS started_at,
               maxMerge(ended_at) AS ended_at, countIfMerge(pageviews) AS pageviews,
               min(hour) AS first_hour, max(hour) AS last_hour
        FROM session_parts WHERE site_id = @site{{range}}
        GROUP BY session_id
    ) ARRAY JOIN arrayMap(i -> first_hour + i * 3600, range(intDiv(least(toUInt32(last_hour - first_hour), 176400), 3600) + 1)) AS part_hour
) AS s ANY LEFT JOIN (
    SELECT visitor_id, minMerge(first_seen) AS first_seen{{profile}} FROM visitor_profiles WHERE site_id = @site{{visitors}} GROUP BY visitor_id
) AS v USING visitor_id`

// summaryColumns are session_summaries' columns as the refresh writes them.
const summaryColumns = `session_summaries (site_id, hour, session_id, started_at, sessions, new_sessions, bounces, duration, version)`

var (
	// qTouched is the hours with touched sessions since @since, and how
	// many sessions each.
	qTouched = chsql.New("sessionstats.touched", `SELECT hour, uniqExact(session_id) FROM sessions_touched
WHERE site_id = @site AND touched_at >= @since AND touched_at <= @upto GROUP BY hour ORDER BY hour`)
	// qTouchedSummaries is the touched sessions' summaries (@since,
	// @touched), their parts read over the hours around (@from, @to),
	// with their visitors.
	qTouchedSummaries = chsql.New("sessionstats.touched_summaries", summaries).With(map[string]string{
		"extra":    ",\n       visitor_id, first_seen, visitor_sessions",
		"profile":  ", uniqIfMerge(sessions) AS visitor_sessions",
		"range":    "\n            AND hour >= @from AND hour < @to AND session_id IN (" + touched + ")",
		"visitors": " AND visitor_id IN (SELECT finalizeAggregation(visitor_id) FROM session_parts\n        WHERE site_id = @site AND hour IN @touched AND session_id IN (" + touched + "))"})
	// qOthers sums, per hour of @hours, the newest summaries of the
	// sessions not touched (FINAL, then the filter: a condition on a
	// column outside the key must not pick rows before FINAL merges them).
	// It reads what earlier refreshes wrote, never this one's rows: on a
	// cluster a replica may not have those yet.
	qOthers = chsql.New("sessionstats.others", `SELECT hour, sum(sessions), sum(new_sessions), sum(bounces), sum(duration)
FROM (
    SELECT hour, session_id, sessions, new_sessions, bounces, duration FROM session_summaries FINAL
    WHERE site_id = @site AND hour IN @hours
)
WHERE session_id NOT IN (`+touched+`)
GROUP BY hour`)
	// qFirstSessions is the summary rows of the hours other sessions of
	// the visitors @visitors began in (visitor_visits, a row per visitor
	// and session), with the visitor, to be flagged new again or not: one
	// of their touched sessions became new, their first sighting moved
	// earlier.
	qFirstSessions = chsql.New("sessionstats.first_sessions", `SELECT hour, session_id, started_at, new_sessions, bounces, duration, visitor
FROM (
    SELECT hour, session_id, started_at, sessions, new_sessions, bounces, duration FROM session_summaries FINAL
    WHERE site_id = @site
        AND hour IN (SELECT toStartOfHour(time) FROM visitor_visits WHERE site_id = @site AND visitor_id IN @visitors AND touch = 0)
        AND session_id IN (SELECT session_id FROM visitor_visits WHERE site_id = @site AND visitor_id IN @visitors AND touch = 0)
) AS s ALL INNER JOIN (
    SELECT session_id, any(visitor_id) AS visitor FROM visitor_visits
    WHERE site_id = @site AND visitor_id IN @visitors AND touch = 0 GROUP BY session_id
) AS vv USING session_id
WHERE sessions = 1`)
	insertSummaries = chsql.New("sessionstats.insert_summaries", `INSERT INTO `+summaryColumns)
	insertHours     = chsql.New("sessionstats.insert_hours", `INSERT INTO sessions_hourly (site_id, hour, sessions, new_sessions, bounces, duration, version)`)
	// summarizeRecent writes the summaries of the sessions with events
	// since @horizon (their parts read from @from, a span before), @site,
	// @version; rebuildAll sums every session's summary into every hour
	// some session began in, computing them rather than reading back
	// those just written (on a cluster a replica may not have them yet).
	summarizeRecent = chsql.New("sessionstats.summarize_recent", `INSERT INTO `+summaryColumns+`
SELECT @site, hour, session_id, started_at, sessions, new_sessions, bounces, duration, @version FROM (
`+summaries+`
)`).With(map[string]string{"extra": "", "profile": "",
		"range":    "\n            AND hour >= @from AND session_id IN (SELECT session_id FROM session_parts WHERE site_id = @site AND hour >= @horizon)",
		"visitors": " AND visitor_id IN (SELECT finalizeAggregation(visitor_id) FROM session_parts WHERE site_id = @site AND hour >= @horizon)"})
	// qLastWhole is when the last whole rebuild of @site was (its upto;
	// zero if none): the hours from its horizon on have every session's
	// summary.
	qLastWhole = chsql.New("sessionstats.last_whole", `SELECT max(upto) FROM refreshes WHERE site_id = @site AND kind = @kind AND full = 1`)
	// qHourSums sums every session that began in the hours @old (before
	// the horizon, where sessions untouched since the last whole rebuild
	// have no summary), from the sessions with parts in them, their parts
	// read over the hours around (@from, @to).
	qHourSums = chsql.New("sessionstats.hour_sums", `SELECT hour, sum(sessions), sum(new_sessions), sum(bounces), sum(duration) FROM (
`+summaries+`
)
WHERE sessions = 1 AND hour IN @old
GROUP BY hour`).With(map[string]string{"extra": "", "profile": "",
		"range":    "\n            AND hour >= @from AND hour < @to AND session_id IN (SELECT session_id FROM session_parts WHERE site_id = @site AND hour IN @old)",
		"visitors": " AND visitor_id IN (SELECT finalizeAggregation(visitor_id) FROM session_parts WHERE site_id = @site AND hour IN @old)"})
	// qVisitorHours is the hours before @horizon the visitors @visitors
	// began sessions in (visitor_visits): where their first sighting moved,
	// those hours are summed again from their sessions, having no
	// summaries to reflag.
	qVisitorHours = chsql.New("sessionstats.visitor_hours", `SELECT DISTINCT toStartOfHour(time) FROM visitor_visits
WHERE site_id = @site AND visitor_id IN @visitors AND touch = 0 AND time < @horizon`)
	// zeroHours writes zeros, at @version, over every hour of @site's
	// sessions_hourly, which rebuildAll's rows at a later version replace
	// where some session still begins: an hour no session begins in any
	// more (a late, earlier event moved its one session's start) would
	// otherwise keep its old row.
	zeroHours = chsql.New("sessionstats.zero_hours", `INSERT INTO sessions_hourly (site_id, hour, sessions, new_sessions, bounces, duration, version)
SELECT @site, hour, 0, 0, 0, 0, @version FROM sessions_hourly WHERE site_id = @site GROUP BY hour`)
	rebuildAll = chsql.New("sessionstats.rebuild", `INSERT INTO sessions_hourly (site_id, hour, sessions, new_sessions, bounces, duration, version)
SELECT @site, hour, sum(sessions), sum(new_sessions), sum(bounces), sum(duration), @version FROM (
`+summaries+`
)
GROUP BY hour HAVING sum(sessions) > 0`).With(map[string]string{"range": "", "visitors": "", "extra": "", "profile": ""})
	qStats = chsql.New("sessionstats.period", `SELECT sum(sessions), sum(new_sessions), sum(bounces), sum(duration)
FROM sessions_hourly FINAL WHERE site_id = @site AND hour >= @from AND hour < @to`)
	// qEdges: the same figures, as summaries computes them, of the
	// sessions that began in [@e0, @e1) or [@e2, @e3), parts of the hours
	// @hours, read from the sessions themselves.
	qEdges = chsql.New("sessionstats.period_edges", `SELECT count(), countIf(first_seen >= started_at), countIf(pageviews <= 1),
    sum(toUInt64(ended_at - started_at))
FROM (
    SELECT visitor_id, started_at, ended_at, pageviews FROM (`+merged+`)
    WHERE (started_at >= @e0 AND started_at < @e1) OR (started_at >= @e2 AND started_at < @e3)
) AS s ANY LEFT JOIN (
    SELECT visitor_id, minMerge(first_seen) AS first_seen FROM visitor_profiles
    WHERE site_id = @site AND visitor_id IN (SELECT finalizeAggregation(visitor_id) FROM session_parts WHERE site_id = @site AND hour IN @hours)
    GROUP BY visitor_id
) AS v USING visitor_id`)
)

// around is the range of hours read to see whole the sessions that had
// parts in hours.
func around(hours []time.Time) (from, to time.Time) {
	from, to = hours[0], hours[0]
	for _, h := range hours[1:] {
		if h.Before(from) {
			from = h
		}
		if h.After(to) {
			to = h
		}
	}
	return from.Add(-span), to.Add(span + time.Hour)
}

// kind is the session statistics' kind of refresh in the refreshes table.
// Since migration 0030 it is not "sessions", the kind before it: the first
// refresh of each site after it rebuilds whole, filling the summaries,
// and a rebuild cut short is done again, since only a whole one is
// recorded.
const kind = "session_summaries"

// recent is how far back from a whole rebuild its summaries go: it
// writes those of the sessions with events in its last three days (and
// every refresh after it those of the sessions it recomputes), so that an
// hour from the rebuild's horizon on has every session's summary and a
// refresh sums the sessions it did not touch from them. An older hour (a
// late event days after its session) is summed from its sessions, as
// every hour was before the summaries. At 10M events, summarizing every
// session took 38 s of ClickHouse's CPU and the sums 15 s; the last three
// days' sessions (11% of the bench's), 9 s. A refresh's hours are nearly
// always the last few.
const recent = 72 * time.Hour

// maxSessions is how many touched sessions an incremental refresh reads
// back and writes itself; past it the site is recomputed whole.
const maxSessions = 500_000

// summary is a row of session_summaries.
type summary struct {
	hour                           time.Time
	session                        string
	started                        time.Time
	sessions, newSessions, bounces uint8
	duration                       uint32
}

// stats is the row's figures as a sum of one.
func (r summary) stats() Stats {
	return Stats{Sessions: uint64(r.sessions), NewSessions: uint64(r.newSessions), Bounces: uint64(r.bounces), Duration: uint64(r.duration)}
}

// readBytes bounds the bytes of the identifiers or hours one statement
// names (qFirstSessions names its visitors three times): under
// ClickHouse's max_query_size, 256 KiB.
const readBytes = 64 << 10

// Refresh recomputes the sessions of site that had events since the last
// refresh and sums again the hours they have parts in, and says how many
// hours it summed (0 for a whole rebuild, which it does not count).
//
// An incremental refresh reads the touched sessions' summaries and the
// sums of the other sessions of their hours before it writes either: on a
// cluster, a replica need not have what this refresh wrote a moment ago.
// Cut short, it is done again whole by the next (its touched marks stay
// until one is recorded).
func (s *Store) Refresh(ctx context.Context, site string) (int, error) {
	s.refreshing.Lock()
	defer s.refreshing.Unlock()
	ctx, cancel := refresh.Bound(ctx)
	defer cancel()
	w, err := refresh.Last(ctx, s.db, kind, site)
	if err != nil {
		return 0, err
	}
	var touchedHours []time.Time
	if !w.Full {
		var n uint64
		touchedHours, n, err = s.touched(ctx, site, w.Since, w.Now)
		if err != nil {
			return 0, fmt.Errorf("session stats of %s: touched sessions: %w", site, err)
		}
		if len(touchedHours) == 0 {
			return 0, nil
		}
		w.Full = len(touchedHours) > maxHours || n > maxSessions
	}
	version := uint64(time.Now().UnixNano())
	var hours []time.Time
	if w.Full {
		horizon := w.Now.Truncate(time.Hour).Add(-recent)
		args := chsql.Args{"site": site, "version": version, "horizon": horizon, "from": horizon.Add(-span)}
		if err := s.db.Exec(ctx, summarizeRecent, args); err != nil {
			return 0, fmt.Errorf("session stats of %s: summaries: %w", site, err)
		}
		if err := s.db.Exec(ctx, zeroHours, chsql.Args{"site": site, "version": version}); err != nil {
			return 0, fmt.Errorf("session stats of %s: clear the hours: %w", site, err)
		}
		if err := s.db.Exec(ctx, rebuildAll, chsql.Args{"site": site, "version": version + 1}); err != nil {
			return 0, fmt.Errorf("session stats of %s: %w", site, err)
		}
	} else {
		var last time.Time
		if err := s.db.QueryRow(ctx, qLastWhole, chsql.Args{"site": site, "kind": kind}).Scan(&last); err != nil {
			return 0, fmt.Errorf("session stats of %s: last whole rebuild: %w", site, err)
		}
		horizon := w.Now // none recorded: no hour has every summary
		if last.Unix() > 0 {
			horizon = last.Truncate(time.Hour).Add(-recent)
		}
		if hours, err = s.refreshTouched(ctx, site, w.Since, w.Now, touchedHours, horizon, version); err != nil {
			return 0, fmt.Errorf("session stats of %s: %w", site, err)
		}
	}
	if err := refresh.Record(ctx, s.db, kind, site, w, uint64(len(hours)), "sessions_touched"); err != nil {
		return 0, err
	}
	return len(hours), nil
}

// touched reads the hours with sessions touched from since to upto, and
// how many sessions (a session touched in two hours counted twice).
func (s *Store) touched(ctx context.Context, site string, since, upto time.Time) ([]time.Time, uint64, error) {
	rows, err := s.db.Query(ctx, qTouched, chsql.Args{"site": site, "since": since, "upto": upto})
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var hours []time.Time
	var total uint64
	for rows.Next() {
		var h time.Time
		var n uint64
		if err := rows.Scan(&h, &n); err != nil {
			return nil, 0, err
		}
		hours = append(hours, h.UTC())
		total += n
	}
	return hours, total, rows.Err()
}

// refreshTouched recomputes the sessions touched in touchedHours from
// since to upto, writes their summaries and the sums of the hours they
// have parts in (the other sessions' as earlier refreshes left them),
// and returns those hours. Every one of them gets a row, zeros included:
// the hour a session no longer begins in may have no other session.
func (s *Store) refreshTouched(ctx context.Context, site string, since, upto time.Time, touchedHours []time.Time, horizon time.Time, version uint64) ([]time.Time, error) {
	from, to := around(touchedHours)
	args := chsql.Args{"site": site, "since": since, "upto": upto, "touched": chsql.Set[time.Time](touchedHours), "from": from, "to": to}
	rows, err := s.db.Query(ctx, qTouchedSummaries, args)
	if err != nil {
		return nil, fmt.Errorf("touched sessions: %w", err)
	}
	var fresh []summary
	sums := map[time.Time]*Stats{}
	// The visitors with a touched session that is now their first, and
	// more sessions: their first sighting may have moved earlier (a late
	// session), so another of their sessions may no longer be new.
	firstSeen := map[string]time.Time{}
	freshSessions := map[string]bool{}
	for rows.Next() {
		var r summary
		var visitor string
		var first time.Time
		var visitorSessions uint64
		if err := rows.Scan(&r.hour, &r.session, &r.started, &r.sessions, &r.newSessions, &r.bounces, &r.duration,
			&visitor, &first, &visitorSessions); err != nil {
			rows.Close()
			return nil, fmt.Errorf("touched sessions: %w", err)
		}
		r.hour = r.hour.UTC()
		fresh = append(fresh, r)
		freshSessions[r.session] = true
		if sums[r.hour] == nil {
			sums[r.hour] = &Stats{}
		}
		sums[r.hour].add(r.stats())
		if r.newSessions == 1 && visitorSessions > 1 {
			firstSeen[visitor] = first
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("touched sessions: %w", err)
	}
	if len(fresh) == 0 {
		// The touched sessions are gone (erased since): no hour they
		// have parts in is known, so there is nothing to sum.
		return nil, nil
	}
	// Their other sessions whose flag changes are written again; the
	// others' sums below still hold their old flag, so the change is
	// kept apart and added after.
	// Before the horizon, some of those sessions have no summary to
	// reflag: their hours are added to sums, to be summed from their
	// sessions below.
	reflagged, err := s.reflag(ctx, site, firstSeen, freshSessions, horizon, sums)
	if err != nil {
		return nil, err
	}
	var flagChange = map[time.Time]int64{}
	for _, r := range reflagged {
		if sums[r.hour] == nil {
			sums[r.hour] = &Stats{}
		}
		flagChange[r.hour] += int64(r.newSessions)*2 - 1 // 1 if now new, -1 if no longer
	}
	hours := make([]time.Time, 0, len(sums))
	for h := range sums {
		hours = append(hours, h)
	}
	slices.SortFunc(hours, time.Time.Compare)
	// Hours before the horizon are summed from their sessions, touched or
	// not (the sum of every session, flags as they are now); the others
	// from the untouched sessions' summaries and the fresh ones.
	old := hours[:0:0]
	var summed []time.Time
	for _, h := range hours {
		if h.Before(horizon) {
			old = append(old, h)
			*sums[h] = Stats{}
			delete(flagChange, h)
		} else {
			summed = append(summed, h)
		}
	}
	const hourBytes = len("'2006-01-02 15:04:05', ")
	for rest := summed; len(rest) > 0; {
		n := fit(len(rest), func(int) int { return hourBytes })
		if err := s.others(ctx, chsql.Args{"site": site, "since": since, "upto": upto, "touched": args["touched"], "hours": chsql.Set[time.Time](rest[:n])}, sums); err != nil {
			return nil, err
		}
		rest = rest[n:]
	}
	for rest := old; len(rest) > 0; {
		n := fit(len(rest), func(int) int { return hourBytes })
		from, to := around(rest[:n])
		if err := s.sum(ctx, qHourSums, chsql.Args{"site": site, "old": chsql.Set[time.Time](rest[:n]), "from": from, "to": to}, sums); err != nil {
			return nil, fmt.Errorf("the hours before the summaries' horizon: %w", err)
		}
		rest = rest[n:]
	}
	for h, d := range flagChange {
		// Below zero only if a session touched after the fresh read was
		// reflagged: the next refresh, which reads it, puts it right.
		st := sums[h]
		st.NewSessions = uint64(max(0, int64(st.NewSessions)+d))
	}
	b, err := s.db.PrepareBatch(ctx, insertSummaries)
	if err != nil {
		return nil, fmt.Errorf("write summaries: %w", err)
	}
	for _, r := range append(fresh, reflagged...) {
		if err := b.Append(site, r.hour, r.session, r.started, r.sessions, r.newSessions, r.bounces, r.duration, version); err != nil {
			b.Abort()
			return nil, fmt.Errorf("write summaries: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return nil, fmt.Errorf("write summaries: %w", err)
	}
	b, err = s.db.PrepareBatch(ctx, insertHours)
	if err != nil {
		return nil, fmt.Errorf("write hours: %w", err)
	}
	for _, h := range hours {
		st := sums[h]
		if err := b.Append(site, h, st.Sessions, st.NewSessions, st.Bounces, st.Duration, version); err != nil {
			b.Abort()
			return nil, fmt.Errorf("write hours: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return nil, fmt.Errorf("write hours: %w", err)
	}
	return hours, nil
}

// others adds to sums the sums of the sessions not touched of the hours
// args names.
func (s *Store) others(ctx context.Context, args chsql.Args, sums map[time.Time]*Stats) error {
	if err := s.sum(ctx, qOthers, args, sums); err != nil {
		return fmt.Errorf("the other sessions: %w", err)
	}
	return nil
}

// sum adds to sums the rows of q (hour and the four figures), for the
// hours sums has.
func (s *Store) sum(ctx context.Context, q *chsql.Query, args chsql.Args, sums map[time.Time]*Stats) error {
	rows, err := s.db.Query(ctx, q, args)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var h time.Time
		var o Stats
		if err := rows.Scan(&h, &o.Sessions, &o.NewSessions, &o.Bounces, &o.Duration); err != nil {
			return err
		}
		if st := sums[h.UTC()]; st != nil {
			st.add(o)
		}
	}
	return rows.Err()
}

// olderHours adds to sums the hours before horizon the visitors began
// sessions in.
func (s *Store) olderHours(ctx context.Context, site string, visitors []string, horizon time.Time, sums map[time.Time]*Stats) error {
	rows, err := s.db.Query(ctx, qVisitorHours, chsql.Args{"site": site, "visitors": chsql.Set[string](visitors), "horizon": horizon})
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var h time.Time
		if err := rows.Scan(&h); err != nil {
			return err
		}
		if h = h.UTC(); sums[h] == nil {
			sums[h] = &Stats{}
		}
	}
	return rows.Err()
}

// fit is how many of n items, the first of which at least, one statement
// names within readBytes, size being each one's bytes in it.
func fit(n int, size func(i int) int) int {
	total := 0
	for i := range n {
		if total += size(i); total > readBytes && i > 0 {
			return i
		}
	}
	return n
}

// reflag reads the summaries of the sessions the visitors of firstSeen
// began (those of skip left out) and returns those whose new-session flag
// the visitor's first sighting changes, with the flag changed; and adds
// to sums the hours before horizon the visitors began sessions in.
func (s *Store) reflag(ctx context.Context, site string, firstSeen map[string]time.Time, skip map[string]bool, horizon time.Time, sums map[time.Time]*Stats) ([]summary, error) {
	visitors := make([]string, 0, len(firstSeen))
	for v := range firstSeen {
		visitors = append(visitors, v)
	}
	slices.Sort(visitors)
	var out []summary
	for len(visitors) > 0 {
		n := fit(len(visitors), func(i int) int { return len(visitors[i]) + 4 })
		if err := s.olderHours(ctx, site, visitors[:n], horizon, sums); err != nil {
			return nil, fmt.Errorf("the touched visitors' older sessions: %w", err)
		}
		rows, err := s.db.Query(ctx, qFirstSessions, chsql.Args{"site": site, "visitors": chsql.Set[string](visitors[:n])})
		if err != nil {
			return nil, fmt.Errorf("the touched visitors' other sessions: %w", err)
		}
		visitors = visitors[n:]
		for rows.Next() {
			r := summary{sessions: 1}
			var visitor string
			if err := rows.Scan(&r.hour, &r.session, &r.started, &r.newSessions, &r.bounces, &r.duration, &visitor); err != nil {
				rows.Close()
				return nil, fmt.Errorf("the touched visitors' other sessions: %w", err)
			}
			var flag uint8
			if !firstSeen[visitor].Before(r.started) { // first_seen >= started_at, as summaries says
				flag = 1
			}
			if skip[r.session] || flag == r.newSessions {
				continue
			}
			r.hour, r.newSessions = r.hour.UTC(), flag
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("the touched visitors' other sessions: %w", err)
		}
	}
	return out, nil
}

// Period sums the statistics of site's sessions that began in [from, to),
// as the last Refresh left them: it writes nothing. The rollup answers
// the UTC hours that lie whole in the period; where the period cuts an
// hour (a day of a zone half an hour off UTC: Kolkata's begins at 18:30
// UTC), the sessions that began in the period's part of it are read from
// the sessions themselves, by their start (the rollup's row of the hour
// counted the sessions of the half hour before or after the period too,
// and a period that left the row out missed those of its own half hour).
func (s *Store) Period(ctx context.Context, site string, from, to time.Time) (Stats, error) {
	from, to = from.UTC(), to.UTC()
	hfrom, hto := from.Truncate(time.Hour), to.Truncate(time.Hour)
	if hfrom.Before(from) {
		hfrom = hfrom.Add(time.Hour)
	}
	if hto.Before(hfrom) { // within one hour
		hfrom, hto = to, to
	}
	var st Stats
	if err := s.db.QueryRow(ctx, qStats, chsql.Args{"site": site, "from": hfrom, "to": hto}).Scan(&st.Sessions, &st.NewSessions, &st.Bounces, &st.Duration); err != nil {
		return st, fmt.Errorf("session stats of %s: %w", site, err)
	}
	// The cut parts: [from, hfrom) and [hto, to).
	e0, e1, e2, e3 := from, hfrom, hto, to
	if to.Before(e1) {
		e1 = to
	}
	if e2.Before(from) {
		e2 = from
	}
	var hours []time.Time
	if e0.Before(e1) {
		hours = append(hours, e0.Truncate(time.Hour))
	}
	if e2.Before(e3) && (len(hours) == 0 || !hours[0].Equal(e2.Truncate(time.Hour))) {
		hours = append(hours, e2.Truncate(time.Hour))
	}
	if len(hours) == 0 {
		return st, nil
	}
	afrom, ato := around(hours)
	var edge Stats
	err := s.db.QueryRow(ctx, qEdges, chsql.Args{"site": site, "from": afrom, "to": ato, "hours": chsql.Set[time.Time](hours),
		"e0": e0, "e1": e1, "e2": e2, "e3": e3}).Scan(&edge.Sessions, &edge.NewSessions, &edge.Bounces, &edge.Duration)
	if err != nil {
		return st, fmt.Errorf("session stats of %s, the hours the period cuts: %w", site, err)
	}
	st.add(edge)
	return st, nil
}
