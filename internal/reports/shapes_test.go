package reports_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/internal/reports"
	"footfall/tests/stacktest"
)

// TestEveryShape sends every shape a report can be composed of: a
// breakdown by each dimension (a property's too), a filter of each
// operator on each dimension, a series of every metric at each interval,
// and a funnel. It asserts little beyond an answer: its point is the
// recording, which make test-compat replays on ClickHouse 18.16 and on
// current ClickHouse, so that no composed variant escapes that check.
func TestEveryShape(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	db := stacktest.Reader(t, store)
	ctx := context.Background()
	day := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	var hits []stacktest.Hit
	pages := []string{"/", "/shoes/trail?utm_source=news&utm_medium=email&utm_campaign=fall&utm_content=a&utm_term=b", "/hats?gclid=x1", "/p?aff=blog1", "/thanks"}
	for v := 0; v < 6; v++ {
		for i, p := range pages {
			at := day.Add(time.Duration(v)*time.Hour + time.Duration(i)*time.Second)
			f := map[event.Field]string{event.Site: "shop", event.Type: "pageview", event.VisitorID: "v" + string(rune('a'+v)),
				event.SessionID: "s" + string(rune('a'+v)), event.URL: "https://shop.example" + p}
			if i == 0 {
				f[event.Referrer] = []string{"https://www.google.com/", "https://t.co/x", "", "https://blog.example/post"}[v%4]
			}
			h := stacktest.Hit{At: at, Fields: f, Props: []string{"plan", []string{"pro", "free"}[v%2]}}
			if i == len(pages)-1 && v%2 == 0 {
				h.Fields[event.Type], h.Fields[event.OrderID], h.Revenue = "purchase", "o"+string(rune('a'+v)), int64(10+v)*1_000_000
			}
			hits = append(hits, h)
		}
	}
	stacktest.Insert(t, store, hits...)

	dims, ops, metrics, intervals := reports.Shapes()
	if len(dims) < 20 || len(ops) < 3 || len(metrics) < 8 {
		t.Fatalf("shapes: %d dimensions, %d operators, %d metrics", len(dims), len(ops), len(metrics))
	}
	q := reports.Query{Site: "shop", From: day.Add(-time.Hour), To: day.Add(24 * time.Hour)}
	for _, by := range append(dims, "prop.plan") {
		tab, err := reports.Breakdown(ctx, db, q, by, 3)
		if err != nil {
			t.Errorf("breakdown by %s: %v", by, err)
			continue
		}
		if len(tab.Rows) == 0 {
			t.Errorf("breakdown by %s: no rows", by)
		}
	}
	values := map[string]string{"page": "/shoes", "section": "/shoes", "source": "google", "type": "pageview", "prop.plan": "pro"}
	for _, dim := range append(dims, "prop.plan") {
		for _, op := range ops {
			raw := dim + op + values[dim]
			f, err := reports.ParseFilter(raw)
			if err != nil {
				if strings.HasSuffix(dim, "_page") || dim == "visitor_type" {
					continue // session dimensions break down, never filter
				}
				t.Errorf("filter %s: %v", raw, err)
				continue
			}
			fq := q
			fq.Filters = []reports.Filter{f}
			if _, err := reports.Breakdown(ctx, db, fq, "page", 3); err != nil {
				t.Errorf("breakdown by page where %s: %v", raw, err)
			}
		}
	}
	ms, err := reports.ParseMetrics(strings.Join(metrics, ","))
	if err != nil {
		t.Fatal(err)
	}
	for _, iv := range intervals {
		if _, err := reports.Series(ctx, db, q, iv, ms); err != nil {
			t.Errorf("series of every metric by %s: %v", iv, err)
		}
		fq := q
		fq.Filters = []reports.Filter{{Dim: "source", Op: "==", Value: "google"}}
		if _, err := reports.Series(ctx, db, fq, iv, ms); err != nil {
			t.Errorf("series of every metric by %s where source==google: %v", iv, err)
		}
	}
	if _, err := reports.Funnel(ctx, db, q, []string{"page==/", "page^=/shoes", "type==purchase"}, 3600, reports.Sampling{}); err != nil {
		t.Errorf("funnel: %v", err)
	}
}
