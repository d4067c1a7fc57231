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

// touched is the sessions with events in the hours @hours since @since.
// A session touched in another hour since (an insert after the hours
// were read) waits for the next refresh, which reads it whole.
const touched = `SELECT session_id FROM sessions_touched WHERE site_id = @site AND touched_at >= @since AND hour IN @hours`

var (
	qTouchedHours = chsql.New("sessionstats.touched_hours", `SELECT DISTINCT hour FROM sessions_touched WHERE site_id = @site AND touched_at >= @since`)
	// qSummarized says whether the site has session summaries: none (a
	// site never refreshed, or refreshed before migration 0030) asks for
	// a whole rebuild.
	qSummarized = chsql.New("sessionstats.summarized", `SELECT count() FROM (SELECT 1 FROM session_summaries WHERE site_id = @site LIMIT 1)`)
	// insertSummaries writes the figures of the sessions {{range}} picks,
	// a row per hour each has parts in: the hour it began in carries
	// sessions = 1 and its figures, with its visitor's first sighting
	// ({{visitors}} narrows the visitors read); its other hours carry
	// zeros, which replace the row of an hour it began in before a late,
	// earlier event moved its start. Parameters: @site, @version, and
	// those of the range. Both sides of the join are aliased, as current
	// ClickHouse requires.
	insertSummaries = chsql.New("sessionstats.summarize", `INSERT INTO session_summaries (site_id, hour, session_id, started_at, sessions, new_sessions, bounces, duration, version)
SELECT @site, part_hour, session_id, started_at, toUInt8(part_hour = start_hour), toUInt8(part_hour = start_hour AND first_seen >= started_at),
       toUInt8(part_hour = start_hour AND pageviews <= 1), toUInt32(if(part_hour = start_hour, ended_at - started_at, 0)), @version
FROM (
    SELECT session_id, visitor_id, started_at, ended_at, pageviews, toStartOfHour(started_at) AS start_hour, part_hour
    FROM (
        SELECT session_id, anyMerge(visitor_id) AS visitor_id, minMerge(started_at) AS started_at,
               maxMerge(ended_at) AS ended_at, countIfMerge(pageviews) AS pageviews, groupUniqArray(hour) AS hours
        FROM session_parts WHERE site_id = @site{{range}}
        GROUP BY session_id
    ) ARRAY JOIN hours AS part_hour
) AS s ANY LEFT JOIN (
    SELECT visitor_id, minMerge(first_seen) AS first_seen FROM visitor_profiles WHERE site_id = @site{{visitors}} GROUP BY visitor_id
) AS v USING visitor_id`)
	// summarizeTouched: the sessions touched (@since, @hours), read over
	// the hours around (@from, @to); summarizeAll: every session.
	summarizeTouched = insertSummaries.With(map[string]string{
		"range":    "\n            AND hour >= @from AND hour < @to AND session_id IN (" + touched + ")",
		"visitors": " AND visitor_id IN (SELECT finalizeAggregation(visitor_id) FROM session_parts\n        WHERE site_id = @site AND hour IN @hours AND session_id IN (" + touched + "))"})
	summarizeAll = insertSummaries.With(map[string]string{"range": "", "visitors": ""})
	// qWritten is the hours the summaries of @version have rows in, around
	// the touched hours (@from, @to).
	qWritten = chsql.New("sessionstats.written_hours", `SELECT DISTINCT hour FROM session_summaries
WHERE site_id = @site AND hour >= @from AND hour < @to AND version = @version`)
	// insertHours sums the hours' session summaries into sessions_hourly:
	// sumHours the hours @hours, each session's newest row (FINAL);
	// sumWritten those of the summaries of @written alone, which a whole
	// rebuild has just written for every session of the site.
	insertHours = chsql.New("sessionstats.refresh", `INSERT INTO sessions_hourly (site_id, hour, sessions, new_sessions, bounces, duration, version)
SELECT @site, hour, sum(sessions), sum(new_sessions), sum(bounces), sum(duration), @version
FROM session_summaries{{final}} WHERE site_id = @site AND {{which}}
GROUP BY hour`)
	sumHours   = insertHours.With(map[string]string{"final": " FINAL", "which": "hour IN @hours"})
	sumWritten = insertHours.With(map[string]string{"final": "", "which": "version = @written"})
	qStats     = chsql.New("sessionstats.period", `SELECT sum(sessions), sum(new_sessions), sum(bounces), sum(duration)
FROM sessions_hourly FINAL WHERE site_id = @site AND hour >= @from AND hour < @to`)
	// qEdges: the same figures, as insertSummaries computes them, of the
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

// Refresh recomputes the sessions of site that had events since the last
// refresh and the hours they have parts in, and says how many hours it
// summed (0 for a whole rebuild, which it does not count).
func (s *Store) Refresh(ctx context.Context, site string) (int, error) {
	s.refreshing.Lock()
	defer s.refreshing.Unlock()
	ctx, cancel := refresh.Bound(ctx)
	defer cancel()
	w, err := refresh.Last(ctx, s.db, "sessions", site)
	if err != nil {
		return 0, err
	}
	if !w.Full {
		var n uint64
		if err := s.db.QueryRow(ctx, qSummarized, chsql.Args{"site": site}).Scan(&n); err != nil {
			return 0, fmt.Errorf("session stats of %s: summaries: %w", site, err)
		}
		w.Full = n == 0
	}
	var touchedHours []time.Time
	if !w.Full {
		touchedHours, err = s.times(ctx, qTouchedHours, chsql.Args{"site": site, "since": w.Since})
		if err != nil {
			return 0, fmt.Errorf("session stats of %s: touched hours: %w", site, err)
		}
		if len(touchedHours) == 0 {
			return 0, nil
		}
		w.Full = len(touchedHours) > maxHours
	}
	version := uint64(time.Now().UnixNano())
	var hours []time.Time
	if w.Full {
		if err := s.db.Exec(ctx, summarizeAll, chsql.Args{"site": site, "version": version}); err != nil {
			return 0, fmt.Errorf("session stats of %s: summaries: %w", site, err)
		}
		if err := s.db.Exec(ctx, sumWritten, chsql.Args{"site": site, "version": version + 1, "written": version}); err != nil {
			return 0, fmt.Errorf("session stats of %s: %w", site, err)
		}
	} else {
		from, to := around(touchedHours)
		args := chsql.Args{"site": site, "version": version, "since": w.Since, "hours": chsql.Set[time.Time](touchedHours), "from": from, "to": to}
		if err := s.db.Exec(ctx, summarizeTouched, args); err != nil {
			return 0, fmt.Errorf("session stats of %s: summaries: %w", site, err)
		}
		// The touched sessions' hours, those they began in before
		// included; none when they are gone (erased since).
		hours, err = s.times(ctx, qWritten, chsql.Args{"site": site, "from": from, "to": to, "version": version})
		if err != nil {
			return 0, fmt.Errorf("session stats of %s: summed hours: %w", site, err)
		}
		if len(hours) > 0 {
			if err := s.db.Exec(ctx, sumHours, chsql.Args{"site": site, "version": version + 1, "hours": chsql.Set[time.Time](hours)}); err != nil {
				return 0, fmt.Errorf("session stats of %s: %w", site, err)
			}
		}
	}
	if err := refresh.Record(ctx, s.db, "sessions", site, w, uint64(len(hours)), "sessions_touched"); err != nil {
		return 0, err
	}
	return len(hours), nil
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
	st.Sessions += edge.Sessions
	st.NewSessions += edge.NewSessions
	st.Bounces += edge.Bounces
	st.Duration += edge.Duration
	return st, nil
}

func (s *Store) times(ctx context.Context, q *chsql.Query, args chsql.Args) ([]time.Time, error) {
	rows, err := s.db.Query(ctx, q, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var t time.Time
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t.UTC())
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
