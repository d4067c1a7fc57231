package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	_ "footfall/collector/beacon" // their metrics, which the Prometheus dashboard shows
	_ "footfall/collector/kafkaout"
	"footfall/dashboards/grafana"
	"footfall/internal/event"
	"footfall/internal/sessionstats"
	_ "footfall/processor/consume"
	"footfall/tests/stacktest"
)

func readDashboard(t *testing.T, name string) grafana.Dashboard {
	t.Helper()
	d, err := grafana.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestGrafanaClickHouse runs every query of the ClickHouse dashboard, with
// the data source's macros expanded as the Grafana ClickHouse plugin does,
// on a migrated database with a few events: each must run on this
// ClickHouse, and the traffic panels must find the traffic.
func TestGrafanaClickHouse(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	now := time.Now().UTC().Truncate(time.Second)
	hit := func(at time.Time, typ, session string) stacktest.Hit {
		return stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: typ,
			event.VisitorID: "v1", event.SessionID: session, event.URL: "https://shop.example/shoes?utm_campaign=spring"}}
	}
	order := hit(now.Add(-time.Hour), "purchase", "s1")
	order.Fields[event.OrderID], order.Revenue = "o1", 25_000_000
	stacktest.Insert(t, store, hit(now.Add(-2*time.Hour), "pageview", "s1"), hit(now.Add(-90*time.Minute), "pageview", "s1"), order)
	if _, err := sessionstats.NewStore(store.DB()).Refresh(context.Background(), "shop"); err != nil {
		t.Fatal(err)
	}
	from, to := now.Add(-7*24*time.Hour), now.Add(time.Minute)
	queries := grafana.Queries
	withRows := 0
	for _, q := range queries {
		rows, err := store.DB().Query(context.Background(), q, grafana.Args(q, "shop", from, to))
		if err != nil {
			t.Errorf("%s: %v", q.SQL(), err)
			continue
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Errorf("%s: %v", q.SQL(), err)
		}
		if n > 0 {
			withRows++
		}
	}
	// Every query but the newsletter panel's (no e-mail events here) finds rows.
	if withRows != len(queries)-1 {
		t.Errorf("%d of %d queries found rows, want all but the newsletter panel", withRows, len(queries))
	}
}

// TestGrafanaPrometheus checks that every metric the pipeline dashboard
// plots is one the collector and processor export.
func TestGrafanaPrometheus(t *testing.T) {
	d := readDashboard(t, "prometheus-pipeline.json")
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		exported[f.GetName()] = true
	}
	metric := regexp.MustCompile(`\b(?:collector|processor|process)_[a-z0-9_]+`)
	plotted := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, name := range metric.FindAllString(tg.Expr, -1) {
				plotted++
				base := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if trimmed, ok := strings.CutSuffix(name, suffix); ok && exported[trimmed] {
						base = trimmed
					}
				}
				if !exported[base] {
					t.Errorf("panel %q plots %s, which nothing exports", p.Title, name)
				}
			}
		}
	}
	if plotted < 10 {
		t.Errorf("only %d metrics plotted", plotted)
	}
}
