package reports

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"

	"footfall/internal/chsql"
)

// maxSteps bounds a funnel.
const maxSteps = 10

// MaxPeriod bounds a funnel's period (see qFunnel's order key).
const MaxPeriod = 400 * 24 * time.Hour

// qFunnel counts the visitors by the furthest step they reached in order,
// each step a later event than the one before and within @window seconds
// of the first (the level; 0 never shows). That is what windowFunnel
// answers on ClickHouse 18.16 for events of distinct seconds; but for
// events of the same second windowFunnel follows the order on disk on
// 18.16 and the order of the steps on current ClickHouse, which also lets
// one event be several steps. This statement orders events by their ids
// and answers the same on both.
//
// An event's place in the order, ord, is its second since @from times 2^32
// plus where its id falls in that second. The first 8 bytes of an id are
// its millisecond and NewID's counter within it (internal/event), so ids
// order the events of a collector as it received them; id_key is them as
// a number (a UUID's first 8 bytes are its first UInt64 in memory, on
// both engines), second_key the same for the start of the event's second.
// NewID's time may run up to a second ahead of the event's; an id more
// than about a minute from its second (not one of NewID's) counts as the
// second's start. A period is at most MaxPeriod (400 days), so ord stays
// below 2^58. The window is in whole seconds, as windowFunnel's.
//
// Per visitor, the chains of step i are p_i (where each is, sorted) and
// s_i (where it started; p1 for step 1). A chain goes on to the first
// step i+1 event after it: merging p_i and a_{i+1} (that step's events)
// in one sorted array m_i, a chain followed by an event (f_i, what
// follows each element) goes on to it (o_i, from r_i); one followed by
// another chain is dropped, since that one started no earlier and goes
// on to the same event. Chains that leave the window (w_i) end. Values
// are ord*2 for events and ord*2+1 for chains, so that each element says
// which it is and an event sorts before a chain at the same place: the
// next step is a later event, never the same one. The level is 1 plus the
// number of later steps some chain reached. This costs a sort per step
// and visitor, where following each start on its own would cost the
// product of two steps' events (tens of seconds and gigabytes for one
// visitor with 20,000 page views in a funnel of two page steps); and no
// lambda captures a column, which ClickHouse 18.16 gets wrong inside
// another lambda ("Unknown identifier").
//
// {{sample}} is empty, or a PREWHERE that keeps the visitors of a sample
// (sampleOf). n_rows is how many events were grouped for each visitor,
// which the funnel's sample is checked against (Funnel): every visitor
// with an event of some step, so a visitor without a first step (e1 = 0)
// stays to be counted, at level 0, with empty arrays (cheap to carry).
//
// The statement is generated for the number of steps: {{conds}} the
// steps' conditions c1..cn, {{any}} their disjunction, {{arrays}} p1 and
// a2..an, {{steps}} and {{ends}} a SELECT around it for each later step
// i, which says whether some chain reached it (e_i), and {{reached}} the
// sum of those.
var qFunnel = chsql.New("reports.funnel", `SELECT level, count(), sum(n_rows) FROM (
    SELECT toUInt8(e1 * (1{{reached}})) AS level, n_rows
    FROM {{steps}}(
        SELECT {{arrays}}, notEmpty(p1) AS e1, count() AS n_rows
        FROM (
            SELECT visitor_id, {{conds}},
                   reinterpretAsUInt64(reinterpretAsString(event_id)) AS id_key,
                   toUInt64(time) * 65536000 AS second_key,
                   toUInt64(toUInt32(time) - toUInt32(@from)) * 4294967296
                       + toUInt64(if(id_key >= second_key AND id_key < second_key + 4294967296, id_key - second_key, 0)) AS ord
            FROM events{{sample}}
            WHERE `+eventsWhere+` AND ({{any}})
        )
        GROUP BY visitor_id
    ){{ends}}
)
GROUP BY level ORDER BY level`)

// funnelParts are qFunnel's generated parts for steps with conditions
// conds (SQL, their values already in the statement's arguments).
func funnelParts(conds []string) map[string]string {
	n := len(conds)
	var c, anyOf, arrays, reached []string
	for i, cond := range conds {
		k := strconv.Itoa(i + 1)
		c = append(c, "("+cond+") AS c"+k)
		anyOf = append(anyOf, "c"+k)
		if i == 0 {
			arrays = append(arrays, "arraySort(groupArrayIf(ord * 2 + 1, c1)) AS p1")
		} else {
			arrays = append(arrays, "if(notEmpty(p1), arraySort(groupArrayIf(ord * 2, c"+k+")), emptyArrayUInt64()) AS a"+k)
			reached = append(reached, " + e"+k)
		}
	}
	// One SELECT per step after the first, the last step outermost: each
	// reads the chains of the step before from the one inside it, so that
	// no alias stands for the steps before (ClickHouse expands aliases,
	// and ten steps of them are too big a statement).
	var steps strings.Builder
	for i := n; i >= 2; i-- {
		k, prev := strconv.Itoa(i), strconv.Itoa(i-1)
		starts := "s" + prev
		if i == 2 {
			starts = "p1"
		}
		cols := []string{"n_rows", "e1"}
		for j := i + 1; j <= n; j++ {
			cols = append(cols, "a"+strconv.Itoa(j))
		}
		for j := 2; j < i; j++ {
			cols = append(cols, "e"+strconv.Itoa(j))
		}
		cols = append(cols,
			"arraySort(arrayConcat(a"+k+", p"+prev+")) AS m"+k,
			"arrayPopFront(arrayPushBack(m"+k+", 1)) AS f"+k,
			"arrayFilter((f, m) -> bitAnd(m, 1) = 1 AND bitAnd(f, 1) = 0, f"+k+", m"+k+") AS o"+k,
			"arrayFilter((s, f) -> bitAnd(f, 1) = 0, "+starts+", arrayFilter((f, m) -> bitAnd(m, 1) = 1, f"+k+", m"+k+")) AS r"+k,
			"arrayMap((p, s) -> bitShiftRight(p, 33) <= bitShiftRight(s, 33) + @window, o"+k+", r"+k+") AS w"+k,
			"arrayMap(p -> p + 1, arrayFilter((p, w) -> w, o"+k+", w"+k+")) AS p"+k)
		if i < n {
			cols = append(cols, "arrayFilter((s, w) -> w, r"+k+", w"+k+") AS s"+k)
		}
		cols = append(cols, "notEmpty(p"+k+") AS e"+k)
		steps.WriteString("(\n    SELECT " + strings.Join(cols, ",\n           ") + "\n    FROM ")
	}
	return map[string]string{
		"conds":   strings.Join(c, ", "),
		"any":     strings.Join(anyOf, " OR "),
		"arrays":  strings.Join(arrays, ", "),
		"steps":   steps.String(),
		"ends":    strings.Repeat(")", n-1),
		"reached": strings.Join(reached, ""),
	}
}

// Sampling says whom a funnel follows. A funnel's cost is grouping its
// events by visitor (about 0.65 us of ClickHouse's CPU per event on 18.16,
// 6 s at 10M events on two cores), which no rollup can spare it, since its
// steps are any filters; so past twice Events events it follows a sample
// of the visitors with about Events events (Funnel, sampleOf).
type Sampling struct {
	// Events is the sample's size in events; 0 is DefaultSampleEvents.
	Events uint64
	// Off follows every visitor whatever the size (sample=off).
	Off bool
}

// DefaultSampleEvents is the size of a funnel's sample when Sampling does
// not say: at 10M events a sampled funnel costs a seventh of following
// every visitor (docs/perf.md), and a step reached by 1% of the visitors
// still has hundreds of them in the sample.
const DefaultSampleEvents = 500_000

// qFunnelSize is the size a funnel's first sample is taken by: every event
// of the site in the hours the period overlaps (bots included, e-mail opens
// and clicks not), a few milliseconds from the hourly rollup.
var qFunnelSize = chsql.New("reports.funnel_size", `SELECT countMerge(events) FROM events_hourly
WHERE site_id = @site AND hour >= toStartOfHour(@from) AND hour < @to`)

// sampleOf is the N of a sample of one visitor in N for a funnel over
// events events with samples of size events: 0 (every visitor) up to
// twice size, past it events over size rounded up.
func sampleOf(events, size uint64) uint64 {
	if events <= size || events-size <= size {
		return 0
	}
	return events/size + min(events%size, 1)
}

// sampleWhere keeps the visitors of a sample of one in n: those whose
// cityHash64(visitor_id) is at most 2^64/n. A visitor's events are all
// in it or all out of it, the same visitors every time, and a sample of
// one in 2n is part of the sample of one in n (so the visitors followed
// change little when the period grows); PostHog samples its funnels by
// person the same way. PREWHERE: the other columns are still read, but
// the steps' conditions and the order are computed for the sample only
// (a fifth less CPU at 10M events).
func sampleWhere(n uint64, args chsql.Args) string {
	args["sample_bound"] = math.MaxUint64 / n
	return " PREWHERE cityHash64(visitor_id) <= @sample_bound"
}

// Funnel is the report of the visitors of q who went through steps in
// order, each step within window seconds of the first: per step, the
// visitors who reached it, the share of the first step's who did
// (conversion) and the share of the previous step's who did not (drop-off).
// A step is one or more filters joined by ";" (type==pageview;page^=/shoes).
// A large period's funnel is estimated from a sample of the visitors
// (Sampling, sampleOf; Table.Sample says one visitor in how many).
func Funnel(ctx context.Context, db *chsql.Conn, q Query, steps []string, window int, sampling Sampling) (Table, error) {
	if q.To.Sub(q.From) > MaxPeriod {
		return Table{}, inputErrorf("period longer than %d days", MaxPeriod/(24*time.Hour))
	}
	if len(steps) < 2 || len(steps) > maxSteps {
		return Table{}, inputErrorf("step: give 2 to %d steps, each filters joined by ';' (type==add_to_cart)", maxSteps)
	}
	args := chsql.Args{"window": uint64(window)}
	var conds []string
	var size filterBytes
	for i, s := range steps {
		var fs []Filter
		for _, part := range strings.Split(s, ";") {
			f, err := ParseFilter(part)
			if err != nil {
				return Table{}, inputErrorf("step %d: %v", i+1, err)
			}
			if err := size.add(f); err != nil {
				return Table{}, inputErrorf("step: %v", err)
			}
			fs = append(fs, f)
		}
		conds = append(conds, strings.TrimPrefix(where(fs, args), " AND "))
	}
	parts := funnelParts(conds)
	parts["filters"] = q.where(args)
	sampleSize := sampling.Events
	if sampleSize == 0 {
		sampleSize = DefaultSampleEvents
	}
	// A sample's first size is the period's events (rollup: an upper
	// bound on the funnel's own); then the funnel's own events, after its
	// filters, its steps and without bots, as the sample counted them:
	// where they call for a sample at least half as sparse, or none, the
	// funnel is counted again with it (one more read of the period's
	// events, so that a filtered funnel or one of rare steps is not left
	// to a handful of sampled visitors).
	var sample uint64
	if !sampling.Off {
		var events uint64
		err := db.QueryRow(ctx, qFunnelSize, chsql.Args{"site": q.Site, "from": q.From, "to": q.To}).Scan(&events)
		if err != nil {
			return Table{}, wrap("funnel size", err)
		}
		sample = sampleOf(events, sampleSize)
	}
	reached, rows, err := funnelLevels(ctx, db, parts, args, len(steps), sample)
	if err != nil {
		return Table{}, err
	}
	if sample > 0 {
		if own := sampleOf(rows*sample, sampleSize); own <= sample/2 {
			sample = own
			if reached, _, err = funnelLevels(ctx, db, parts, args, len(steps), sample); err != nil {
				return Table{}, err
			}
		}
	}
	t := q.table("funnel", "step", "definition", "visitors", "conversion", "drop_off")
	t.Sample = sample
	for i, s := range steps {
		n := reached[i+1]
		var conv, drop float64
		if reached[1] > 0 {
			conv = float64(n) / float64(reached[1])
		}
		if i > 0 && reached[i] > 0 {
			drop = 1 - float64(n)/float64(reached[i])
		}
		t.Rows = append(t.Rows, []any{i + 1, s, n, roundTo(conv, 4), roundTo(drop, 4)})
	}
	return t, nil
}

// funnelLevels runs qFunnel with parts and args on a sample of one visitor
// in sample (0: every visitor): per step 1..steps, the visitors who reached
// it (the sample's times sample), and the events grouped (those of some
// step, after the filters, without bots).
func funnelLevels(ctx context.Context, db *chsql.Conn, parts map[string]string, args chsql.Args, steps int, sample uint64) (reached []uint64, rows uint64, err error) {
	weight := uint64(1)
	parts["sample"] = ""
	delete(args, "sample_bound")
	if sample > 0 {
		parts["sample"], weight = sampleWhere(sample, args), sample
	}
	reached = make([]uint64, steps+1)
	err = each(ctx, db, qFunnel.With(parts), args, func(sc func(...any) error) error {
		var level uint8
		var n, r uint64
		if err := sc(&level, &n, &r); err != nil {
			return err
		}
		// A visitor at level L reached every step up to L (level 0: no
		// first step, its events counted in rows only).
		for i := 1; i <= int(level) && i <= steps; i++ {
			reached[i] += n * weight
		}
		rows += r
		return nil
	})
	return reached, rows, err
}
