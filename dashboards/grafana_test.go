package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	_ "footfall/collector/beacon" // their metrics, which the Prometheus dashboard shows
	_ "footfall/collector/kafkaout"
	"footfall/dashboards/grafana"
	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/money"
	"footfall/internal/sessionstats"
	"footfall/internal/sites"
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
		rows, err := store.DB().Query(context.Background(), q, grafana.Args(q, grafana.Site{ID: "shop", Currency: "EUR", TimeZone: "UTC"}, from, to))
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
	// Every query but the newsletter panel's (no e-mail events here) finds
	// rows (the currency and tz variables their default's).
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

var update = flag.Bool("update", false, "write the statements grafana.Built builds into the dashboard's file")

// jsonString is s as the dashboard's file spells a string.
func jsonString(t *testing.T, s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// TestGrafanaPanelsBuilt: the dashboard's money statements and its
// currency and tz variables are the ones grafana.Built makes from the
// API's pieces (go test ./dashboards -run TestGrafanaPanelsBuilt -update
// writes them).
func TestGrafanaPanelsBuilt(t *testing.T) {
	d := readDashboard(t, grafana.ClickHouseFile)
	variables, panels := grafana.Built()
	path := "grafana/" + grafana.ClickHouseFile
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	check := func(what, have, want string) {
		if have == want {
			return
		}
		if !*update {
			t.Errorf("%s is not as grafana.Built makes it (-update writes it):\n%s\nwant\n%s", what, have, want)
			return
		}
		old := `: ` + jsonString(t, have)
		if strings.Count(text, old) != 1 {
			t.Fatalf("%s: its statement is not once in the file", what)
		}
		text = strings.Replace(text, old, `: `+jsonString(t, want), 1)
	}
	seen := 0
	for _, v := range d.Templating.List {
		if want, ok := variables[v.Name]; ok {
			q, _ := v.Query.(string)
			check("variable "+v.Name, q, want)
			seen++
		}
	}
	for _, p := range d.Panels {
		if want, ok := panels[p.Title]; ok {
			check("panel "+p.Title, p.Targets[0].RawSQL, want)
			seen++
		}
	}
	if seen != len(variables)+len(panels) {
		t.Errorf("%d of the %d built statements are in the dashboard", seen, len(variables)+len(panels))
	}
	if *update && text != string(raw) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGrafanaRevenue: the revenue panels show amounts in the site's
// reporting currency, converted at each order's day's rate as the API
// does, and days of the site's zone. A shop in Paris reporting in EUR:
// 5000 JPY at 160 JPY a euro and 10 EUR on 10 November (41.25 EUR, not
// 5010), 7 EUR at 23:30 Paris on the 10th, 20 EUR at 00:30 Paris on the
// 11th (23:30 UTC on the 10th: UTC days put it on the 10th), and 3 USD
// on the 11th, for which no rate is loaded: counted as an unconverted
// order, not summed.
func TestGrafanaRevenue(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	stacktest.Site(t, store, "paris", func(s *sites.Site) { s.TimeZone = "Europe/Paris"; s.Currency = "EUR" })
	d := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	if _, err := money.Load(ctx, store.DB(), []money.Rate{{Day: d, Currency: "JPY", PerEUR: 160}}); err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	order := func(at time.Time, id, currency string, micros int64, campaign string) stacktest.Hit {
		return stacktest.Hit{At: at, Revenue: micros, Fields: map[event.Field]string{event.Site: "paris", event.Type: "purchase",
			event.VisitorID: "v-" + id, event.SessionID: "s-" + id, event.OrderID: id, event.Currency: currency,
			event.URL: "https://shop.example/thanks?utm_campaign=" + campaign}}
	}
	stacktest.Insert(t, store,
		order(time.Date(2026, 11, 10, 12, 0, 0, 0, paris), "jpy", "JPY", 5000_000_000, "a"),
		order(time.Date(2026, 11, 10, 13, 0, 0, 0, paris), "eur", "EUR", 10_000_000, "a"),
		order(time.Date(2026, 11, 10, 23, 30, 0, 0, paris), "late", "EUR", 7_000_000, "b"),
		order(time.Date(2026, 11, 11, 0, 30, 0, 0, paris), "night", "EUR", 20_000_000, "b"),
		order(time.Date(2026, 11, 11, 9, 0, 0, 0, paris), "usd", "USD", 3_000_000, "b"),
	)
	db := stacktest.Reader(t, store)
	from, to := d.Add(-24*time.Hour), d.Add(72*time.Hour)
	// The variables, as Grafana reads them for the site.
	site := grafana.Site{ID: "paris"}
	var day, campaign *chsql.Query
	for _, q := range grafana.Queries {
		sql := q.SQL()
		switch {
		case strings.Contains(sql, "argMax(currency"):
			if err := db.QueryRow(ctx, q, grafana.Args(q, site, from, to)).Scan(&site.Currency); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(sql, "argMax(time_zone"):
			if err := db.QueryRow(ctx, q, grafana.Args(q, site, from, to)).Scan(&site.TimeZone); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(sql, "AS day"):
			day = q
		case strings.Contains(sql, "AS campaign") && strings.Contains(sql, "revenue"):
			campaign = q
		}
	}
	if site.Currency != "EUR" || site.TimeZone != "Europe/Paris" || day == nil || campaign == nil {
		t.Fatalf("variables %+v, panels %v %v", site, day, campaign)
	}
	type fig struct {
		revenue             float64
		orders, unconverted uint64
	}
	read := func(q *chsql.Query) map[string]fig {
		rows, err := db.Query(ctx, q, grafana.Args(q, site, from, to))
		if err != nil {
			t.Fatalf("%s: %v", q.Name(), err)
		}
		defer rows.Close()
		out := map[string]fig{}
		for rows.Next() {
			var f fig
			var k string
			if q == day {
				var at time.Time
				if err := rows.Scan(&at, &f.revenue, &f.orders, &f.unconverted); err != nil {
					t.Fatal(err)
				}
				k = at.UTC().Format(time.RFC3339)
			} else {
				var camp, aff string
				var visitors uint64
				if err := rows.Scan(&camp, &aff, &visitors, &f.orders, &f.revenue, &f.unconverted); err != nil {
					t.Fatal(err)
				}
				k = camp
			}
			f.revenue = math.Round(f.revenue*1e6) / 1e6
			out[k] = f
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Paris's days begin at 23:00 UTC the day before (CET).
	wantDays := map[string]fig{
		"2026-11-09T23:00:00Z": {revenue: 31.25 + 10 + 7, orders: 3},
		"2026-11-10T23:00:00Z": {revenue: 20, orders: 2, unconverted: 1},
	}
	if got := read(day); fmt.Sprint(got) != fmt.Sprint(wantDays) {
		t.Errorf("revenue per day %v, want %v", got, wantDays)
	}
	wantCampaigns := map[string]fig{"a": {revenue: 41.25, orders: 2}, "b": {revenue: 27, orders: 3, unconverted: 1}}
	if got := read(campaign); fmt.Sprint(got) != fmt.Sprint(wantCampaigns) {
		t.Errorf("revenue by campaign %v, want %v", got, wantCampaigns)
	}
}
