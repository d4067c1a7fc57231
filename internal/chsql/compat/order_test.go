package compat

import (
	"strconv"
	"strings"
	"testing"

	_ "footfall/dashboards/api" // registers the API's statements
	_ "footfall/dashboards/grafana"
	_ "footfall/internal/campaigns"
	"footfall/internal/chsql"
	_ "footfall/internal/profiles"
	_ "footfall/internal/refresh"
	"footfall/internal/reports"
	_ "footfall/internal/segments"
	_ "footfall/internal/sessionstats"
	_ "footfall/processor/chstore"
	_ "footfall/processor/derive"
	_ "footfall/processor/imports"
	_ "footfall/processor/recipients"
	_ "footfall/processor/triggers"
)

// TestNoArgMinByTime: no statement picks a first or last value by time
// alone. time is in whole seconds: of the events of one second, argMin(x,
// time) takes whichever ClickHouse reads first, and ClickHouse 18.16 and
// current versions read them in different orders (2,000 sessions of three
// page views in one second had their entry page /p2 on one and /p1 on the
// other). The key is reports.EventOrder, or (time, toString(event_id)).
//
// The migrations before the one that keyed the tables' states so
// (*_event_order.sql) are history, kept as users applied them.
func TestNoArgMinByTime(t *testing.T) {
	ms, err := chsql.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	ordered := 0
	for _, m := range ms {
		if strings.HasSuffix(m.Name, "_event_order.sql") {
			ordered = m.Version
		}
	}
	if ordered == 0 {
		t.Fatal("no *_event_order.sql migration")
	}
	checked := 0
	for _, q := range chsql.Registered() {
		if v, ok := migrationVersion(q.Name()); ok && v < ordered {
			continue
		}
		for _, args := range calls(q.SQL(), "argMin", "argMax") {
			checked++
			if len(args) >= 2 && args[1] == "time" {
				t.Errorf("%s: argMin or argMax (%s) takes the first or last by time alone: key it by reports.EventOrder (%s)",
					q.Name(), strings.Join(args, ", "), reports.EventOrder)
			}
		}
	}
	if checked < 10 {
		t.Errorf("found %d argMin and argMax calls, want many", checked)
	}
}

// TestCallsSplitsArguments: calls finds the calls of a family of
// functions and splits their arguments at top-level commas.
func TestCallsSplitsArguments(t *testing.T) {
	got := calls("SELECT argMinIf(url_path, concat(hex(toUInt64(time) + 1), x), type = 'a,b'), argMaxMerge(p), max(time), argMin(u, time)",
		"argMin", "argMax")
	want := [][]string{{"url_path", "concat(hex(toUInt64(time) + 1), x)", "type = 'a,b'"}, {"p"}, {"u", "time"}}
	if len(got) != len(want) {
		t.Fatalf("calls: %q, want %q", got, want)
	}
	for i := range want {
		if strings.Join(got[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("call %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// migrationVersion is the number of the migration a statement name
// (migrate.<file>_s<n>) comes from.
func migrationVersion(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "migrate.")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "_")
	v, err := strconv.Atoi(num)
	return v, ok && err == nil
}

// calls are the arguments, trimmed, of each call in sql of a function
// whose name starts with one of prefixes (argMin, argMinIf, argMinState...).
// Commas inside parentheses or quotes do not split.
func calls(sql string, prefixes ...string) [][]string {
	var out [][]string
	for i := 0; i < len(sql); i++ {
		if i > 0 && isIdent(sql[i-1]) {
			continue
		}
		match := false
		for _, p := range prefixes {
			match = match || strings.HasPrefix(sql[i:], p)
		}
		if !match {
			continue
		}
		j := i
		for j < len(sql) && isIdent(sql[j]) {
			j++
		}
		if j >= len(sql) || sql[j] != '(' {
			continue
		}
		var args []string
		depth, quoted, start := 0, false, j+1
		for k := j; k < len(sql); k++ {
			switch c := sql[k]; {
			case quoted:
				if c == '\\' {
					k++
				} else if c == '\'' {
					quoted = false
				}
			case c == '\'':
				quoted = true
			case c == '(':
				depth++
			case c == ')' || c == ',' && depth == 1:
				if c == ')' {
					depth--
				}
				if depth == 0 || c == ',' {
					args = append(args, strings.TrimSpace(sql[start:k]))
					start = k + 1
				}
			}
			if depth == 0 {
				break
			}
		}
		out = append(out, args)
	}
	return out
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
