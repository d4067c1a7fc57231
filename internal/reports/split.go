package reports

import (
	"fmt"
	"strings"
	"time"

	"footfall/internal/chsql"
)

// A split says which of a period a rollup answers and which the raw
// events: args binds the rollup's range (@hfrom, @hto and the hours @cut
// it must leave out, or @dfrom, @dto) and the events' ranges (@r0, @r1,
// ...), which raw, the {{raw}} slot, lists. The ranges are few and short:
// the events table is ordered by (site_id, time), so ClickHouse reads only
// them.
type split struct {
	args chsql.Args
	raw  string
}

// withRaw returns slots and the split's {{raw}}.
func withRaw(slots map[string]string, s split) map[string]string {
	out := map[string]string{"raw": s.raw}
	for k, v := range slots {
		out[k] = v
	}
	return out
}

// ranges is a list of [from, to) periods, in order, joined when they meet.
type ranges [][2]time.Time

func (rs *ranges) add(from, to time.Time) {
	if !from.Before(to) {
		return
	}
	if n := len(*rs); n > 0 && !(*rs)[n-1][1].Before(from) {
		if to.After((*rs)[n-1][1]) {
			(*rs)[n-1][1] = to
		}
		return
	}
	*rs = append(*rs, [2]time.Time{from, to})
}

// bind adds the ranges' bounds to args and returns the condition that
// selects them; with none, an empty range, which selects nothing.
func (rs ranges) bind(args chsql.Args, at time.Time) string {
	if len(rs) == 0 {
		rs = ranges{{at, at}}
	}
	var sb strings.Builder
	for i, r := range rs {
		if i > 0 {
			sb.WriteString(" OR ")
		}
		a, b := fmt.Sprintf("r%d", 2*i), fmt.Sprintf("r%d", 2*i+1)
		args[a], args[b] = r[0].UTC(), r[1].UTC()
		fmt.Fprintf(&sb, "time >= @%s AND time < @%s", a, b)
	}
	return sb.String()
}

// epoch stands in @cut for no hour: a set is never empty.
var epoch = time.Unix(0, 0).UTC()

// hourSplit splits [from, to) between the hourly rollup and the events:
// the rollup answers the UTC hours that lie whole in the period and,
// when stepOf is given, whose first and last second are in the same step
// (stepOf rounds a time down to its step); the events answer the rest.
// For a zone whose offset is whole hours, that is every hour of a period
// from one midnight to another; for Asia/Kolkata (+05:30) the events
// answer the first and last half hour of the period, and the hours of an
// hourly series, and of a daily one the hours at each midnight.
func hourSplit(site string, from, to time.Time, stepOf func(time.Time) time.Time) split {
	hfrom := from.Truncate(time.Hour)
	if hfrom.Before(from) {
		hfrom = hfrom.Add(time.Hour)
	}
	hto := to.Truncate(time.Hour)
	cut := chsql.Set[time.Time]{epoch}
	var raw ranges
	if !hfrom.Before(hto) {
		raw.add(from, to)
	} else {
		raw.add(from, hfrom)
		for h := hfrom; h.Before(hto); h = h.Add(time.Hour) {
			if stepOf != nil && !stepOf(h).Equal(stepOf(h.Add(time.Hour-time.Second))) {
				cut = append(cut, h.UTC())
				raw.add(h, h.Add(time.Hour))
			}
		}
		raw.add(hto, to)
	}
	args := chsql.Args{"site": site, "hfrom": hfrom.UTC(), "hto": hto.UTC(), "cut": cut}
	return split{args, raw.bind(args, from)}
}

// daySplit splits [from, to) between the daily rollups (keyed by UTC day)
// and the events: the rollups answer the UTC days that lie whole in the
// period, the events the parts of days at its ends (for a site in Paris,
// the hour before UTC's midnight at the start and the 23 after it at the
// end; a single local day is read whole from the events).
func daySplit(site string, from, to time.Time) split {
	dfrom := from.UTC().Truncate(24 * time.Hour)
	if dfrom.Before(from) {
		dfrom = dfrom.Add(24 * time.Hour)
	}
	dto := to.UTC().Truncate(24 * time.Hour)
	var raw ranges
	if !dfrom.Before(dto) {
		dfrom, dto = from.UTC().Truncate(24*time.Hour), from.UTC().Truncate(24*time.Hour)
		raw.add(from, to)
	} else {
		raw.add(from, dfrom)
		raw.add(dto, to)
	}
	args := chsql.Args{"site": site, "dfrom": chsql.Date(dfrom), "dto": chsql.Date(dto)}
	return split{args, raw.bind(args, from)}
}
