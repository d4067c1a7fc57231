package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	_ "footfall/collector/beacon" // their metrics, which the Prometheus dashboard shows
	_ "footfall/collector/kafkaout"
	"footfall/dashboards/grafana"
	"footfall/internal/event"
	"footfall/internal/sessionstats"
	"footfall/internal/useragent"
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

// userAgents are one of each device class and browser the processor
// tells apart (internal/useragent): 24 rows of the devices panel.
func userAgents() []string {
	devices := []string{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) ", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) ",
		"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) "}
	browsers := []string{
		"AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
		"AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/110.0.0.0",
		"AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Safari/537.36",
		"AppleWebKit/537.36 (KHTML, like Gecko) YaBrowser/24.1.0.0 Safari/537.36",
		"Gecko/20100101 Firefox/127.0",
		"AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"AppleWebKit/605.1.15 (KHTML, like Gecko)", // an app's web view: Other
	}
	var out []string
	for _, d := range devices {
		for _, b := range browsers {
			out = append(out, d+b)
		}
	}
	return out
}

// TestGrafanaClickHouse runs every query of the ClickHouse dashboard, with
// the data source's macros expanded as the Grafana ClickHouse plugin does,
// on a migrated database with a few events: each must run on this
// ClickHouse, and the traffic panels must find the traffic.
//
// Every panel that a LIMIT cuts has more tied rows than its limit (60
// visitors, each from a referrer, a campaign, a landing page and a next
// page of their own, on 24 devices and browsers), so that its order has to
// break ties for the panel to show the same rows on ClickHouse 18.16 and
// on current ClickHouse, which the current-ClickHouse check compares; each
// visitor views the landing and the next page in one millisecond, so that
// the entry pages panel must tell them apart by the events' ids.
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
	agents := userAgents()
	combos := map[string]bool{}
	for _, ua := range agents {
		in := useragent.Parse(ua)
		if in.Bot {
			t.Fatalf("%s is taken for a bot", ua)
		}
		combos[in.Device+" "+in.Browser] = true
	}
	if len(combos) != len(agents) {
		t.Fatalf("%d user agents make %d devices and browsers, want one each", len(agents), len(combos))
	}
	var ties []stacktest.Hit
	for i := 0; i < 60; i++ {
		at := now.Add(-3*time.Hour + time.Duration(i)*time.Second + 100*time.Millisecond)
		page := func(path, ref string) stacktest.Hit {
			return stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview",
				event.VisitorID: fmt.Sprintf("t%02d", i), event.SessionID: fmt.Sprintf("ts%02d", i), event.URL: "https://shop.example" + path,
				event.Referrer: ref, event.UserAgent: agents[i%len(agents)]}}
		}
		ties = append(ties, page(fmt.Sprintf("/land/%02d?utm_campaign=c%02d", i, i), fmt.Sprintf("https://ref%02d.example/", i)),
			page(fmt.Sprintf("/next/%02d", i), fmt.Sprintf("https://shop.example/land/%02d", i)))
	}
	rows := stacktest.Rows(ties...)
	slices.Reverse(rows) // stored out of order: the ids say which came first
	if err := store.Insert(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
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
		entries := strings.Contains(q.SQL(), "AS entry_page")
		for rows.Next() {
			n++
			if entries {
				var page string
				var sessions uint64
				var bounce float64
				if err := rows.Scan(&page, &sessions, &bounce); err != nil {
					t.Fatal(err)
				}
				if page != "/shoes" && !strings.HasPrefix(page, "/land/") {
					t.Errorf("entry pages panel: %s, a session's second page view", page)
				}
			}
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
