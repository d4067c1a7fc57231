package reports

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"footfall/internal/chsql"
)

// TestWhere: filter values and property keys are parameters with
// generated names, which several lists of filters share without clashing.
func TestWhere(t *testing.T) {
	args := chsql.Args{"f1": "taken"}
	got := where([]Filter{{"page", "^=", "/shoes"}, {"prop.plan", "==", "o'pro"}, {"device", "!=", "mobile"}}, args)
	want := " AND startsWith(url_path, @f0) AND prop_values[indexOf(prop_keys, @f2)] = @f3 AND device != @f4"
	if got != want {
		t.Errorf("where %q, want %q", got, want)
	}
	wantArgs := chsql.Args{"f0": "/shoes", "f1": "taken", "f2": "plan", "f3": "o'pro", "f4": "mobile"}
	if !reflect.DeepEqual(args, wantArgs) {
		t.Errorf("args %v, want %v", args, wantArgs)
	}
	if more := where([]Filter{{"os", "==", "iOS"}}, args); more != " AND os = @f5" || args["f5"] != "iOS" {
		t.Errorf("second list %q, %v", more, args)
	}

	p := Query{Site: "shop", From: time.Unix(1e9, 0), To: time.Unix(2e9, 0), Filters: []Filter{{"event", "==", "signup"}}}
	args = chsql.Args{"limit": uint64(5)}
	expr, _ := dimExpr("prop.plan", args)
	q := qBreakdown.With(map[string]string{"dim": expr, "filters": p.where(args)})
	sql, err := chsql.Bind(q.SQL(), p.priced(q, args))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sql, "toString(prop_values[indexOf(prop_keys, 'plan')]) AS k") || !strings.Contains(sql, "AND if(type = 'event', name, '') = 'signup'") {
		t.Errorf("breakdown by a property:\n%s", sql)
	}
}

// TestMetricsDefinedOnce: every metric a report's statement computes is
// the one definition of it, and ParseMetrics takes only those.
func TestMetricsDefinedOnce(t *testing.T) {
	for _, q := range []*chsql.Query{qBreakdown, qSessionBreakdown, qPartnerTraffic, qRealtime} {
		if !strings.Contains(q.SQL(), Visitors.Events+" AS m_visitors") && !strings.Contains(q.SQL(), Visitors.Sessions+" AS m_visitors") {
			t.Errorf("%s: visitors not the metric's definition:\n%s", q.Name(), q.SQL())
		}
	}
	if !strings.Contains(qBreakdown.SQL(), Revenue.Events+" AS m_revenue") {
		t.Errorf("breakdown: revenue not the metric's definition")
	}
	if ms, err := ParseMetrics("orders,revenue"); err != nil || len(ms) != 2 || ms[1].Name != "revenue" {
		t.Errorf("ParseMetrics: %v %v", ms, err)
	}
	for _, bad := range []string{"", "orders,orders", "colour"} {
		if _, err := ParseMetrics(bad); err == nil {
			t.Errorf("ParseMetrics(%q) took it", bad)
		}
	}
}
