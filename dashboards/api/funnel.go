package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// maxSteps bounds a funnel.
const maxSteps = 10

// qFunnel counts the visitors who went through the steps in order, each
// within window seconds of the first.
const qFunnel = `SELECT level, count() FROM (
    SELECT visitor_id, windowFunnel(?)(time, %[1]s) AS level
    FROM events WHERE %[2]s GROUP BY visitor_id
) GROUP BY level ORDER BY level`

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
	var conds []string
	var args []any
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
		c, a := where(fs)
		conds = append(conds, "("+strings.TrimPrefix(c, " AND ")+")")
		args = append(args, a...)
	}
	cond, wargs := p.where()
	args = append(append([]any{uint64(window)}, args...), wargs...)
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	reached := make([]uint64, len(raw)+1)
	err = a.each(ctx, fmt.Sprintf(qFunnel, strings.Join(conds, ", "), cond), args, func(sc func(...any) error) error {
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
