package reports

import (
	"context"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"footfall/internal/chsql"
	"footfall/internal/money"
	"footfall/internal/orders"
)

// Breakdown rollups (migration 0032). A breakdown of a site with
// exactBelow visitors or more in its period estimates visitors and
// sessions with uniqHLL12 sketches, and sketches merge: a breakdown by a
// dimension a rollup keys, under filters on such dimensions only, merges
// the rollup's states for the period's whole UTC weeks (where it has rows
// per week) and days, and reads the rest of the period from the events
// (daySplit), as the overview's top lists do. The same answers as the events' statement
// (qBreakdownSketched): a sketch of a union is the union of the sketches.
// At 10M events a month by browser under two filters merged 2,171 rows in
// 48 ms of ClickHouse's CPU where the events took 1.8 s (docs/perf.md).
//
// Orders and revenue count each order once by its key: they come from
// purchases, a copy of the purchase events' columns. breakdowns_daily
// keys by the visit_* columns, which the processor rewrites in an order's
// earlier copies (a mutation a state cannot follow): it leaves purchases
// out, and their traffic comes from purchases too, which the recredit
// updates with the events.
type breakdownRollup struct {
	// dims are the dimensions whose expressions (dims) read only the
	// rollup's key columns, named as the events'.
	dims  []string
	table rollupTable
	// rank, sessions and orders are its statements (rankStatement,
	// sessionsStatement, ordersStatement); oldest, where its table has
	// weeks, the site's oldest day row (keptWeeks).
	rank, sessions, orders, oldest *chsql.Query
}

// A rollupTable is a breakdown rollup's table: its name; purchases, that
// it leaves purchases out (it keys by the visit_* columns), so its
// statements read them from purchases; weeks, that it has rows per UTC
// week from Monday (days = 7) beside those per UTC day (days = 1); few,
// that its dimensions have few values among a site's purchases (a
// handful of sources or browsers, where a page may be one per order), so
// the orders of every value may be counted beside the ranking.
type rollupTable struct {
	name                  string
	purchases, weeks, few bool
}

var (
	comboTable = rollupTable{name: "breakdowns_daily", purchases: true, few: true}
	pageTable  = rollupTable{name: "page_breakdowns", weeks: true}
)

var breakdownRollups = []breakdownRollup{
	{dims: []string{"type", "host", "source", "medium", "device", "browser", "os", "country"}, table: comboTable,
		rank:     chsql.New("reports.breakdowns_rank", rankStatement(comboTable)),
		sessions: chsql.New("reports.breakdowns_sessions", sessionsStatement(comboTable)),
		orders:   chsql.New("reports.breakdowns_orders", ordersStatement)},
	{dims: []string{"page", "section"}, table: pageTable,
		rank:     chsql.New("reports.page_breakdowns_rank", rankStatement(pageTable)),
		sessions: chsql.New("reports.page_breakdowns_sessions", sessionsStatement(pageTable)),
		orders:   chsql.New("reports.page_breakdowns_orders", ordersStatement),
		oldest:   chsql.New("reports.page_breakdowns_oldest", oldestStatement(pageTable))},
}

// rollupFor is the rollup that answers a breakdown by the event dimension
// by under filters, or false: one that keys by and every filter's
// dimension.
func rollupFor(by string, filters []Filter) (breakdownRollup, bool) {
	for _, r := range breakdownRollups {
		if !slices.Contains(r.dims, by) {
			continue
		}
		all := true
		for _, f := range filters {
			all = all && slices.Contains(r.dims, f.Dim)
		}
		if all {
			return r, true
		}
	}
	return breakdownRollup{}, false
}

// rolledMetrics are the breakdown's metrics the rollups hold, as their
// sketched expressions; orders and revenue come from purchases.
var rolledMetrics = sketched([]Metric{Visitors, Pageviews, Sessions, Events})

// stateColumn is the rollup column of m's state: <name>_state.
func stateColumn(m Metric) string { return m.Name + "_state" }

// stateOf is m's aggregate over events as a state, to merge with the
// rollup's: uniqHLL12If(x, c) -> uniqHLL12IfState(x, c).
func stateOf(m Metric) string {
	i := strings.IndexByte(m.Events, '(')
	return m.Events[:i] + "State" + m.Events[i:]
}

// mergeOf merges m's states: uniqHLL12IfMerge(visitors_state).
func mergeOf(m Metric) string {
	return m.Events[:strings.IndexByte(m.Events, '(')] + "Merge(" + stateColumn(m) + ")"
}

// rows are the states of metrics ms per value of {{dim}} (k): the rows of
// t of the period's whole UTC weeks it counts (@wfrom to @wto, where t has
// weeks: keptWeeks) and of its other whole UTC days (@dfrom to @dto), the
// events of the rest of the period ({{raw}}) and, where t leaves them
// out, the period's purchases; where keys is set, narrowed by the {{keys}}
// slot (only). ClickHouse reads a column for each state, so a statement
// names only those it merges.
func rows(t rollupTable, ms []Metric, keys bool) string {
	var states, columns []string
	for _, m := range ms {
		states = append(states, stateOf(m)+" AS "+stateColumn(m))
		columns = append(columns, stateColumn(m))
	}
	only := ""
	if keys {
		only = "{{keys}}"
	}
	period := "day >= @dfrom AND day < @dto"
	if t.weeks {
		period = "(days = 7 AND day >= @wfrom AND day < @wto OR days = 1 AND day >= @dfrom AND day < @dto AND NOT (day >= @wfrom AND day < @wto))"
	}
	out := `SELECT toString({{dim}}) AS k, ` + strings.Join(columns, ", ") + ` FROM ` + t.name + `
    WHERE site_id = @site AND ` + period + `{{filters}}` + only + `
    UNION ALL
    SELECT toString({{dim}}) AS k, ` + strings.Join(states, ", ") + `
    FROM events WHERE ` + eventsWhere + ` AND ({{raw}})` + only
	if t.purchases {
		out += ` AND type != 'purchase'
    GROUP BY k
    UNION ALL
    SELECT toString({{dim}}) AS k, ` + strings.Join(states, ", ") + `
    FROM purchases WHERE ` + eventsWhere + only
	}
	return out + `
    GROUP BY k`
}

// oldestStatement is the site's oldest day row in t (a table with weeks):
// 1970-01-01 where it has none.
func oldestStatement(t rollupTable) string {
	return `SELECT min(day) FROM ` + t.name + ` WHERE site_id = @site AND days = 1`
}

// keptWeeks are the UTC weeks, from Monday, whose rows a breakdown of the
// UTC days [dfrom, dto) counts, as [wfrom, wto); wfrom = wto where there
// are none: those that lie whole in the days and begin on or after the
// site's oldest day row, oldest. A week's row counts only where the days
// of its week are all kept: retention deletes a site's rows before a day
// (processor/retention), the row of the week that day falls in with them,
// and that week's later days are then read from their own rows.
func keptWeeks(dfrom, dto, oldest time.Time) (wfrom, wto time.Time) {
	// A Date from ClickHouse: the day, whatever zone it comes in.
	if day := time.Date(oldest.Year(), oldest.Month(), oldest.Day(), 0, 0, 0, 0, time.UTC); day.After(dfrom) {
		dfrom = day
	}
	return weeks(dfrom, dto)
}

// weeks are the UTC weeks, from Monday, that lie whole in the UTC days
// [dfrom, dto), as [wfrom, wto); wfrom = wto where there are none.
func weeks(dfrom, dto time.Time) (wfrom, wto time.Time) {
	wfrom = dfrom.AddDate(0, 0, (8-int(dfrom.Weekday()))%7)
	wto = dto.AddDate(0, 0, -((int(dto.Weekday()) + 6) % 7))
	if !wfrom.Before(wto) {
		return dfrom, dfrom
	}
	return wfrom, wto
}

// merges is the select list of ms merged from rows' states.
func merges(ms []Metric) string {
	var out []string
	for _, m := range ms {
		out = append(out, mergeOf(m)+" AS "+m.alias())
	}
	return strings.Join(out, ", ")
}

// The statements of a breakdown over a rollup. Merging sketches is what
// it costs (about 25 us a state on 18.16: by page at 10M events, a month
// of daily rows took 390 ms of CPU a metric), so rank merges what the
// ranking reads, visitors, page views and events, for every value, and
// sessions the sessions of the values shown (@keys) only. orders counts
// each order once (orders.Largest, orders.Total), from purchases: grouping
// them by order key is most of its cost (150 to 250 ms of CPU for 200,000
// purchases on 18.16, about 1 s for 2M), so it runs as a statement of
// its own beside the others, for every value where they are few
// (rollupTable.few), else for the values shown.
var (
	rankedMetrics = rolled(Visitors, Pageviews, Events)
	// rolledSessions is the one rolled metric that sessions merges.
	rolledSessions = rolled(Sessions)
	orderMetrics   = []Metric{Orders, Revenue}
)

// rolled is ms as rolledMetrics holds them (sketched), by name.
func rolled(ms ...Metric) []Metric {
	out := make([]Metric, len(ms))
	for i, m := range ms {
		out[i] = rolledMetrics[slices.IndexFunc(rolledMetrics, func(r Metric) bool { return r.Name == m.Name })]
	}
	return out
}

func rankStatement(t rollupTable) string {
	return `SELECT k, ` + merges(rankedMetrics) + `
FROM (
    ` + rows(t, rankedMetrics, false) + `
)
GROUP BY k
ORDER BY m_visitors DESC, m_pageviews DESC, m_events DESC, k LIMIT @limit`
}

func sessionsStatement(t rollupTable) string {
	return `SELECT k, ` + merges(rolledSessions) + `
FROM (
    ` + rows(t, rolledSessions, true) + `
)
GROUP BY k`
}

// ordersStatement is the orders and revenue per value of {{dim}} (k),
// narrowed by the {{keys}} slot. Each order is counted once per value, as
// a group of the 64-bit hash of the value and the order key: ClickHouse
// 18.16 groups 2M purchases by that one number in 0.9 s where grouping
// them by the two strings took 1.4 s (and 415 against 225 MB), the value
// of each group kept as its hash and named after (n, which reads the
// purchases' values again under the same conditions). Hashes stand for
// the strings: two (value, order) pairs sharing one would count as one
// order, under one of the two values, and two values sharing one would
// make one row: about one chance in 10^7 for 2M orders, far below what a
// sample or a sketch gives away elsewhere.
var ordersStatement = `SELECT k, m_orders, m_revenue FROM (
    SELECT kh, toUInt64(count()) AS m_orders, ` + orders.Total("amount") + ` AS m_revenue
    FROM (
        SELECT any(cityHash64(toString({{dim}}))) AS kh, ` + orders.Largest(money.Amount(money.Days)) + ` AS amount
        FROM purchases WHERE ` + eventsWhere + `{{keys}}
        GROUP BY cityHash64(toString({{dim}}), ` + orders.Key + `)
    )
    GROUP BY kh
) AS o ANY INNER JOIN (
    SELECT toString({{dim}}) AS k, cityHash64(k) AS kh FROM purchases WHERE ` + eventsWhere + `{{keys}} GROUP BY k
) AS n USING kh`

// keysFit says whether the values shown may narrow the sessions and
// orders statements, which name them up to three times: ClickHouse
// refuses a statement past 256 KiB (max_query_size), and a page's path may
// be 2 KiB. Beyond, those read every value and the rows keep the values
// shown.
func keysFit(keys []string) bool {
	n := 0
	for _, k := range keys {
		n += len(k)
	}
	return n <= maxKeyBytes
}

// narrow fills the {{keys}} slot of a sessions or orders statement: the
// values keys of expr, or every value where keys is nil.
func narrow(slots map[string]string, args chsql.Args, expr string, keys chsql.Set[string]) {
	slots["keys"] = ""
	if keys != nil {
		slots["keys"], args["keys"] = " AND toString("+expr+") IN @keys", keys
	}
}

// maxKeyBytes bounds the values a sessions or orders statement names
// (keysFit).
const maxKeyBytes = 16 << 10

// rolledAnswer is a breakdown's answer from a rollup.
type rolledAnswer struct {
	t   Table
	err error
}

// answer fills t with the breakdown by the event dimension expr over r:
// its rows, and the unconverted orders, which read only purchases and so
// run beside the rollup's statements.
func (r breakdownRollup) answer(ctx context.Context, db *chsql.Conn, q Query, expr string, limit int, t *Table) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return wrap("unconverted", q.unconverted(gctx, db, "purchases", t)) })
	g.Go(func() (err error) {
		t.Rows, err = r.breakdown(gctx, db, q, expr, limit)
		return err
	})
	return g.Wait()
}

// breakdown is the rows of a breakdown by the event dimension expr over
// r, as Breakdown's: the value, then breakdownMetrics' values. The
// ranking, then the sessions of the values shown; the orders beside the
// ranking where the values are few, else beside the sessions for the
// values shown.
func (r breakdownRollup) breakdown(ctx context.Context, db *chsql.Conn, q Query, expr string, limit int) ([][]any, error) {
	args := chsql.Args{"limit": uint64(limit)}
	s := daySplit(q.Site, q.From, q.To)
	for k, v := range s.args {
		args[k] = v
	}
	if r.table.weeks {
		dfrom, dto := time.Time(s.args["dfrom"].(chsql.Date)), time.Time(s.args["dto"].(chsql.Date))
		wfrom, wto := weeks(dfrom, dto)
		// The oldest day row matters only to a period with a whole week.
		if wfrom.Before(wto) {
			var oldest time.Time
			if err := db.QueryRow(ctx, r.oldest, chsql.Args{"site": q.Site}).Scan(&oldest); err != nil {
				return nil, wrap("oldest day", err)
			}
			wfrom, wto = keptWeeks(dfrom, dto, oldest)
		}
		args["wfrom"], args["wto"] = chsql.Date(wfrom), chsql.Date(wto)
	}
	slots := map[string]string{"dim": expr, "filters": q.where(args), "raw": s.raw}
	// A row is the value, then breakdownMetrics' values, each metric in
	// its column whichever statement gives it.
	column := func(m Metric) int {
		return 1 + slices.IndexFunc(breakdownMetrics, func(b Metric) bool { return b.Name == m.Name })
	}
	g, gctx := errgroup.WithContext(ctx)
	var ordered map[string][]any
	countOrders := func(keys chsql.Set[string]) {
		g.Go(func() (err error) {
			ordered, err = r.countOrders(gctx, db, q, expr, keys)
			return wrap("orders", err)
		})
	}
	if r.table.few {
		countOrders(nil)
	}
	var rows [][]any
	at := map[string]int{}
	g.Go(func() error {
		keys := chsql.Set[string]{}
		err := each(gctx, db, r.rank.With(slots), args, func(scan func(...any) error) error {
			var k string
			vals, err := scanRow(scan, rankedMetrics, &k)
			if err != nil {
				return err
			}
			row := make([]any, 1+len(breakdownMetrics))
			row[0] = k
			for _, m := range breakdownMetrics {
				row[column(m)] = m.zero()
			}
			for i, m := range rankedMetrics {
				row[column(m)] = vals[i]
			}
			at[k] = len(rows)
			keys = append(keys, k)
			rows = append(rows, row)
			return nil
		})
		if err != nil || len(rows) == 0 {
			return wrap("rank", err)
		}
		delete(args, "limit")
		if !keysFit(keys) {
			keys = nil
		}
		narrow(slots, args, expr, keys)
		if !r.table.few {
			countOrders(keys)
		}
		return wrap("sessions", each(gctx, db, r.sessions.With(slots), args, func(scan func(...any) error) error {
			var k string
			vals, err := scanRow(scan, rolledSessions, &k)
			if err != nil {
				return err
			}
			if i, ok := at[k]; ok {
				rows[i][column(Sessions)] = vals[0]
			}
			return nil
		}))
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for k, vals := range ordered {
		if i, ok := at[k]; ok {
			for j, m := range orderMetrics {
				rows[i][column(m)] = vals[j]
			}
		}
	}
	return rows, nil
}

// countOrders is the orders and revenue (orderMetrics) per value of expr
// among keys, or every value where keys is nil.
func (r breakdownRollup) countOrders(ctx context.Context, db *chsql.Conn, q Query, expr string, keys chsql.Set[string]) (map[string][]any, error) {
	out := map[string][]any{}
	args := chsql.Args{}
	slots := map[string]string{"dim": expr, "filters": q.where(args)}
	narrow(slots, args, expr, keys)
	stmt := r.orders.With(slots)
	err := each(ctx, db, stmt, q.priced(stmt, args), func(scan func(...any) error) error {
		var k string
		vals, err := scanRow(scan, orderMetrics, &k)
		if err != nil {
			return err
		}
		out[k] = vals
		return nil
	})
	return out, err
}

// useRollups lets breakdowns read the rollups; a variable for the tests
// that compare them with the events (SetUseRollups).
var useRollups = true
