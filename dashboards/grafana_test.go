package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	_ "footfall/collector/beacon" // their metrics, which the Prometheus dashboard shows
	_ "footfall/collector/kafkaout"
	"footfall/internal/event"
	"footfall/internal/stacktest"
	_ "footfall/processor/consume"
	"footfall/processor/sessionstats"
)

// grafanaDashboard is the part of a Grafana dashboard file the tests read.
type grafanaDashboard struct {
	Title      string
	Templating struct {
		List []struct {
			Type, Name string
			Query      any
		}
	}
	Panels []struct {
		Title   string
		Targets []struct {
			RawSQL string `json:"rawSql"`
			Expr   string
		}
	}
}

func readDashboard(t *testing.T, path string) grafanaDashboard {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: no title or no panels", path)
	}
	return d
}

// TestGrafanaClickHouse runs every query of the ClickHouse dashboard, with
// the data source's macros expanded as the Grafana ClickHouse plugin does,
// on a migrated database with a few events: each must run on this
// ClickHouse, and the traffic panels must find the traffic.
func TestGrafanaClickHouse(t *testing.T) {
	d := readDashboard(t, "grafana/clickhouse-traffic.json")
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
	timeFilter := regexp.MustCompile(`\$__timeFilter\(([a-z_]+)\)`)
	expand := func(sql string) string {
		sql = timeFilter.ReplaceAllString(sql, fmt.Sprintf("$1 >= toDateTime(%d) AND $1 <= toDateTime(%d)", from.Unix(), to.Unix()))
		return strings.NewReplacer("$__fromTime", fmt.Sprintf("toDateTime(%d)", from.Unix()),
			"$__toTime", fmt.Sprintf("toDateTime(%d)", to.Unix()), "${site}", "shop").Replace(sql)
	}
	var queries []string
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			queries = append(queries, q)
		}
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			queries = append(queries, tg.RawSQL)
		}
	}
	withRows := 0
	for _, q := range queries {
		rows, err := store.Conn().Query(context.Background(), expand(q))
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
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
	d := readDashboard(t, "grafana/prometheus-pipeline.json")
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
