package chaos

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"footfall/internal/chsql"
)

// The suite's questions to ClickHouse, about a run's own site. They are
// a test's own statements (named chaos.test_*, in a test file), which the
// current-ClickHouse check leaves aside as it does every test's.
var (
	qMarkers = chsql.New("chaos.test_markers", `
SELECT prop_values[indexOf(prop_keys, 'm')] AS m, count() AS n
FROM events
WHERE site_id = @site AND has(prop_keys, 'm')
GROUP BY m`)

	// What each rollup should hold, counted from the distinct events
	// with the rollup's own filter.
	qRaw = chsql.New("chaos.test_raw", `
SELECT count(), uniqExact(event_id),
       uniqExactIf(event_id, type = 'pageview'),
       uniqExactIf(event_id, session_id != '' AND type = 'pageview'),
       uniqExactIf(event_id, type = 'product_view' AND visitor_id != '' AND has(prop_keys, 'id')),
       countIf(is_bot != 0),
       uniqExactIf(event_id, is_bot = 0 AND ingest != 'email'),
       uniqExactIf(event_id, is_bot = 0 AND ingest != 'email' AND type != 'purchase')
FROM events
WHERE site_id = @site`)

	qHourly   = chsql.New("chaos.test_events_hourly", `SELECT countMerge(events), countIfMerge(pageviews) FROM events_hourly WHERE site_id = @site`)
	qPages    = chsql.New("chaos.test_pages_daily", `SELECT countMerge(pageviews) FROM pages_daily WHERE site_id = @site`)
	qSources  = chsql.New("chaos.test_sources_daily", `SELECT countIfMerge(pageviews) FROM sources_daily WHERE site_id = @site`)
	qParts    = chsql.New("chaos.test_session_parts", `SELECT countIfMerge(pageviews) FROM session_parts WHERE site_id = @site`)
	qProducts = chsql.New("chaos.test_viewed_products", `SELECT countMerge(views) FROM viewed_products WHERE site_id = @site`)
	qPageBD   = chsql.New("chaos.test_page_breakdowns", `SELECT countMerge(events_state) FROM page_breakdowns WHERE site_id = @site AND days = 1`)
	qBD       = chsql.New("chaos.test_breakdowns_daily", `SELECT countMerge(events_state) FROM breakdowns_daily WHERE site_id = @site`)
)

// Rollups names the rollups compared with the raw events, in the table's
// order.
var Rollups = []string{"events_hourly", "pages_daily", "sources_daily", "session_parts", "viewed_products", "page_breakdowns", "breakdowns_daily"}

// Stored is what ClickHouse holds of a run.
type Stored struct {
	Markers  map[int]uint64 // stored rows per hit marker
	Rows     uint64         // count()
	Distinct uint64         // uniqExact(event_id)
	Bots     uint64
	// Extra per rollup: what it counts minus the distinct events it
	// should count (positive: counted twice; negative: missing).
	Extra map[string]int64
}

// StoredMarkers reads how many rows each marker has.
func StoredMarkers(ctx context.Context, db *chsql.Conn, site string) (map[int]uint64, error) {
	rows, err := db.Query(ctx, qMarkers, chsql.Args{"site": site})
	if err != nil {
		return nil, fmt.Errorf("stored markers: %w", err)
	}
	defer rows.Close()
	out := map[int]uint64{}
	for rows.Next() {
		var m string
		var n uint64
		if err := rows.Scan(&m, &n); err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(m)
		if err != nil {
			return nil, fmt.Errorf("marker %q: %w", m, err)
		}
		out[i] = n
	}
	return out, rows.Err()
}

// Count reads everything the ledger compares.
func Count(ctx context.Context, db *chsql.Conn, site string) (Stored, error) {
	var s Stored
	var err error
	if s.Markers, err = StoredMarkers(ctx, db, site); err != nil {
		return s, err
	}
	args := chsql.Args{"site": site}
	var pv, pvSession, products, human, humanNoPurchase uint64
	if err := db.QueryRow(ctx, qRaw, args).Scan(&s.Rows, &s.Distinct, &pv, &pvSession, &products, &s.Bots, &human, &humanNoPurchase); err != nil {
		return s, fmt.Errorf("raw counts: %w", err)
	}
	one := func(q *chsql.Query, dest ...any) error {
		if err := db.QueryRow(ctx, q, args).Scan(dest...); err != nil {
			return fmt.Errorf("%s: %w", q.Name(), err)
		}
		return nil
	}
	var hEvents, hPV, pages, sources, parts, views, pageBD, bd uint64
	for _, e := range []error{
		one(qHourly, &hEvents, &hPV), one(qPages, &pages), one(qSources, &sources),
		one(qParts, &parts), one(qProducts, &views), one(qPageBD, &pageBD), one(qBD, &bd),
	} {
		if e != nil {
			return s, e
		}
	}
	d := func(got, want uint64) int64 { return int64(got) - int64(want) }
	// A rollup with two counts reports the one further off.
	worse := func(a, b int64) int64 {
		if abs(a) >= abs(b) {
			return a
		}
		return b
	}
	s.Extra = map[string]int64{
		"events_hourly":   worse(d(hEvents, s.Distinct), d(hPV, pv)),
		"pages_daily":     d(pages, pv),
		"sources_daily":   d(sources, pv),
		"session_parts":   d(parts, pvSession),
		"viewed_products": d(views, products),
		// The breakdowns' rollups (migration 0032) count every human
		// event (page_breakdowns once in its rows per day, once in its
		// rows per week); breakdowns_daily leaves purchases out.
		"page_breakdowns":  d(pageBD, human),
		"breakdowns_daily": d(bd, humanNoPurchase),
	}
	return s, nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// Row is one line of the table: one run of one fault.
type Row struct {
	Fault         string
	Sent          int
	Acked         int
	Refused       int
	Stored        int   // hits with at least one row
	RefusedStored int   // refused (or unanswered) hits stored all the same: not a fault
	DupRaw        int64 // count() - uniqExact(event_id)
	DupHits       int   // hits stored in more than one row, whatever their ids
	Extra         map[string]int64
	Lost          int // acknowledged, not stored
	LostSample    []int
	Notes         []string
}

// Tally compares the ledger with what ClickHouse holds.
func Tally(fault string, sheet Sheet, st Stored) Row {
	states, status := sheet.States, sheet.Status
	r := Row{Fault: fault, Sent: len(states), Extra: st.Extra}
	lostBySecond := map[int]int{}
	for i, s := range states {
		n := st.Markers[i]
		if n > 0 {
			r.Stored++
		}
		if n > 1 {
			r.DupHits++
		}
		switch s {
		case stateAcked:
			r.Acked++
			if n == 0 {
				r.Lost++
				lostBySecond[int(sheet.At[i]/time.Second)]++
				if len(r.LostSample) < 10 {
					r.LostSample = append(r.LostSample, i)
				}
			}
		default: // refused, or no answer at all
			r.Refused++
			if n > 0 {
				r.RefusedStored++
			}
		}
	}
	r.DupRaw = int64(st.Rows) - int64(st.Distinct)
	if st.Bots > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d rows marked as bots", st.Bots))
	}
	for m := range st.Markers {
		if m < 0 || m >= len(states) {
			r.Notes = append(r.Notes, fmt.Sprintf("marker %d stored but never sent", m))
			break
		}
	}
	var keys []string
	for k := range status {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var answers []string
	for _, k := range keys {
		answers = append(answers, fmt.Sprintf("%s: %d", k, status[k]))
	}
	r.Notes = append(r.Notes, "answers "+strings.Join(answers, ", "))
	if r.RefusedStored > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d refused or unanswered hits stored all the same", r.RefusedStored))
	}
	if r.Lost > 0 {
		var secs []int
		for s := range lostBySecond {
			secs = append(secs, s)
		}
		sort.Ints(secs)
		var by []string
		for _, s := range secs {
			by = append(by, fmt.Sprintf("%ds: %d", s, lostBySecond[s]))
		}
		r.Notes = append(r.Notes, fmt.Sprintf("lost hits (first %d): %v; lost by second of load they were sent in: %s",
			len(r.LostSample), r.LostSample, strings.Join(by, ", ")))
	}
	return r
}

// Failures says what makes the row a failure: an acknowledged hit lost,
// or anything counted twice (or missing) in the raw events or a rollup.
func (r Row) Failures() []string {
	var f []string
	if r.Lost > 0 {
		f = append(f, fmt.Sprintf("%d acknowledged hits lost", r.Lost))
	}
	if r.DupRaw != 0 {
		f = append(f, fmt.Sprintf("%d duplicate rows in events (count() - uniqExact(event_id))", r.DupRaw))
	}
	if r.DupHits != 0 {
		f = append(f, fmt.Sprintf("%d hits stored more than once", r.DupHits))
	}
	for _, k := range Rollups {
		if v := r.Extra[k]; v != 0 {
			f = append(f, fmt.Sprintf("%s counts %+d against the distinct events", k, v))
		}
	}
	return f
}

// Table renders rows as a Markdown table, then each row's notes.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| fault | sent | acknowledged | refused | stored | dup raw |")
	for _, k := range Rollups {
		b.WriteString(" dup " + k + " |")
	}
	b.WriteString(" lost |\n|---|---:|---:|---:|---:|---:|")
	for range Rollups {
		b.WriteString("---:|")
	}
	b.WriteString("---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d |", r.Fault, r.Sent, r.Acked, r.Refused, r.Stored, max(r.DupRaw, int64(r.DupHits)))
		for _, k := range Rollups {
			fmt.Fprintf(&b, " %d |", r.Extra[k])
		}
		fmt.Fprintf(&b, " %d |\n", r.Lost)
	}
	for _, r := range rows {
		if len(r.Notes) > 0 {
			fmt.Fprintf(&b, "- %s: %s\n", r.Fault, strings.Join(r.Notes, "; "))
		}
	}
	return b.String()
}
