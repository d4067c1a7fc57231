package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"footfall/internal/chsql"
)

// maxSteps bounds a funnel.
const maxSteps = 10

// qFunnel counts the visitors by the furthest step they reached in order,
// each step a later event than the one before and within @window seconds
// of the first (the level; 0 never shows). It is what ClickHouse's
// windowFunnel answers, but with events of the same second in the order
// they happened, and the same on ClickHouse 18.16 and current ClickHouse:
// windowFunnel orders the steps of one second as they lie on disk on
// 18.16 and by step number on current ClickHouse, and lets one event be
// several steps on current ClickHouse only.
//
// An event's place in the order, ord, is its second (time) times 2^32
// plus where its id falls in that second. The first 8 bytes of an id are
// its millisecond and NewID's counter within it (internal/event), so ids
// order the events of a collector as it received them; id_key is them as
// a number (a UUID's first 8 bytes are its first UInt64 in memory, on
// both engines), second_key the same for the start of the event's second.
// NewID's time may run up to a second ahead of the event's; an id more
// than a minute from its second (not one of NewID's) counts as the
// second's start. The window is in whole seconds, as windowFunnel's.
//
// Per visitor, k1 holds the ord of each step 1 event, a2..an the ords of
// the later steps, sorted. From each start, the chain k2..kn takes the
// first event of the next step after the previous one (0: none): the
// earliest is never worse, so the longest chain within the window from
// some start is the visitor's level. ClickHouse 18.16 loses a column that
// only a lambda inside a lambda uses ("Unknown identifier", "Not found
// column"), so the steps' arrays reach the inner lambda as arguments of the
// outer one (replicate), not captured. The statement is generated for the
// number of steps: {{conds}} the steps' conditions c1..cn, {{any}} their
// disjunction, {{arrays}} k1 and a2..an, {{chain}} k2..kn and {{level}}
// the length of each start's chain within the window.
var qFunnel = chsql.New("api.funnel", `SELECT level, count() FROM (
    SELECT {{arrays}}{{chain}},
           toUInt8(arrayReduce('max', {{level}})) AS level
    FROM (
        SELECT visitor_id, {{conds}},
               reinterpretAsUInt64(reinterpretAsString(event_id)) AS id_key,
               toUInt64(time) * 65536000 AS second_key,
               toUInt64(time) * 4294967296
                   + toUInt64(if(id_key >= second_key AND id_key < second_key + 4294967296, id_key - second_key, 0)) AS ord
        FROM events
        WHERE `+eventsWhere+` AND ({{any}})
    )
    GROUP BY visitor_id
    HAVING notEmpty(k1)
)
GROUP BY level ORDER BY level`)

// funnelParts are qFunnel's generated parts for steps with conditions
// conds (SQL, parameters already in args).
func funnelParts(conds []string) map[string]string {
	var c, any, arrays, chain, lambda, within, cols []string
	for i, cond := range conds {
		n := strconv.Itoa(i + 1)
		c = append(c, "("+cond+") AS c"+n)
		any = append(any, "c"+n)
		if i == 0 {
			arrays = append(arrays, "groupArrayIf(ord, c1) AS k1")
			continue
		}
		prev := "k" + strconv.Itoa(i)
		arrays = append(arrays, "arraySort(groupArrayIf(ord, c"+n+")) AS a"+n)
		chain = append(chain, ", arrayMap((k, a) -> arrayFirst(x -> k != 0 AND x > k, a), "+prev+", replicate(a"+n+", "+prev+")) AS k"+n)
		lambda = append(lambda, ", t"+n)
		within = append(within, " + (t"+n+" != 0 AND bitShiftRight(t"+n+", 32) <= bitShiftRight(s, 32) + @window)")
		cols = append(cols, ", k"+n)
	}
	return map[string]string{
		"conds":  strings.Join(c, ", "),
		"any":    strings.Join(any, " OR "),
		"arrays": strings.Join(arrays, ", "),
		"chain":  strings.Join(chain, ""),
		"level":  "arrayMap((s" + strings.Join(lambda, "") + ") -> 1" + strings.Join(within, "") + ", k1" + strings.Join(cols, "") + ")",
	}
}

// funnel answers GET /api/v1/funnel?site=&from=&to=&step=type==pageview;page^=/shoes
// &step=type==add_to_cart&step=type==purchase&window=86400: per step, the
// visitors who reached it in order, the share of the first step's who did
// (conversion) and the share of the previous step's who did not (drop-off).
// A step is one or more filters joined by ";".
func (a *API) funnel(w http.ResponseWriter, r *http.Request) {
	p, ok := a.reportParams(w, r)
	if !ok {
		return
	}
	if strings.Contains(r.URL.RawQuery, ";") {
		// Go's query parser drops a pair with a bare ";" in it.
		writeError(w, http.StatusBadRequest, errors.New("step: encode ';' as %3B in the query string"))
		return
	}
	q := r.URL.Query()
	raw := q["step"]
	if len(raw) < 2 || len(raw) > maxSteps {
		writeError(w, http.StatusBadRequest, fmt.Errorf("step: give 2 to %d steps, each filters joined by ';' (type==add_to_cart)", maxSteps))
		return
	}
	window, err := intParam(q.Get("window"), 86400, 1, 90*86400)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("window: %w", err))
		return
	}
	args := chsql.Args{"window": uint64(window)}
	var conds []string
	for i, s := range raw {
		var fs []Filter
		for _, part := range strings.Split(s, ";") {
			f, err := parseFilter(part)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("step %d: %w", i+1, err))
				return
			}
			fs = append(fs, f)
		}
		conds = append(conds, strings.TrimPrefix(where(fs, args), " AND "))
	}
	parts := funnelParts(conds)
	parts["filters"] = p.where(args)
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	reached := make([]uint64, len(raw)+1)
	err = a.each(ctx, qFunnel.With(parts), args, func(sc func(...any) error) error {
		var level uint8
		var n uint64
		if err := sc(&level, &n); err != nil {
			return err
		}
		// A visitor at level L reached every step up to L.
		for i := 1; i <= int(level) && i <= len(raw); i++ {
			reached[i] += n
		}
		return nil
	})
	if err != nil {
		a.fail(w, "funnel", err)
		return
	}
	t := p.table("funnel", "step", "definition", "visitors", "conversion", "drop_off")
	for i, s := range raw {
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
	writeTable(w, r, t)
}
