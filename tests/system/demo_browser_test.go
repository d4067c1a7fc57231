package system

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"footfall/collector/app"
	dashapp "footfall/dashboards/app"
	"footfall/internal/profiles"
	"footfall/processor/derive"
	"footfall/tests/stacktest"
)

// TestBrowserDemo: what `make demo` sends (cmd/demo, its binary, against
// the collector, a processor and the dashboards this test starts, with
// fewer visits than make demo's) shows every panel with data, in real
// Chromium: on the reports page each key figure is not zero, the chart has
// visits on most days, the top pages and sources, the breakdown, every
// funnel step, the affiliates, the lifecycle, the segments, the three
// goals the demo saves and both newsletters have rows; on the people page every lifecycle stage and
// class has people and the segments are listed. Each view is screenshot
// in English, French and at 390 px (.local/screenshots/demo-*.png).
func TestBrowserDemo(t *testing.T) {
	playwright, err := filepath.Abs("../../sdk-js/node_modules/playwright-core/index.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(playwright); err != nil {
		t.Fatal("sdk-js/node_modules is missing: run make test (it runs npm ci in sdk-js)")
	}
	const secret = "demo-browser-test-link-secret"
	s := newStack(t, 2)
	s.startProcessor(t, "-refresh-interval", "1s", "-flush-interval", "200ms")
	_, collector := s.startCollector(t, func(c *app.Config) { c.LinkSecret = secret })

	var cfg dashapp.Config
	fs := flag.NewFlagSet("dashboards", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Ops.Listen, cfg.CH = "127.0.0.1:0", "127.0.0.1:0", s.ch
	cfg.Token, cfg.AdminPassword = "demo-test-token", "demo-admin-password"
	cfg.LinkSecret, cfg.CollectorURL, cfg.SitesReload = secret, collector, 200*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	dash, err := dashapp.Start(ctx, cfg)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dash.Shutdown(context.Background()) })
	dashboards := "http://" + dash.Addr()

	// The demo, as make demo runs it, with a third of its visits.
	bin := filepath.Join(t.TempDir(), "demo")
	if out, err := exec.Command("go", "build", "-o", bin, "footfall/cmd/demo").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const days = 60
	start := time.Now()
	demo := exec.Command(bin, "-collector-url", collector, "-dashboards-url", dashboards, "-api-token", cfg.Token,
		"-demo-site", "demo", "-demo-days", strconv.Itoa(days), "-demo-visitors", "500", "-demo-live-visitors", "20")
	out, err := demo.CombinedOutput()
	t.Logf("demo (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("demo: %v", err)
	}

	// Everything it sent is stored once the count stops growing; then the
	// processor's refresh of the people, lifecycle and segments.
	var last uint64
	for deadline, still := time.Now().Add(60*time.Second), 0; still < 3; time.Sleep(time.Second) {
		n := stacktest.Count(t, s.store, "SELECT count() FROM events WHERE site_id = 'demo'")
		if n == last && n > 0 {
			still++
		} else {
			still, last = 0, n
		}
		if time.Now().After(deadline) {
			t.Fatalf("events still arriving after a minute: %d", n)
		}
	}
	if err := derive.New(profiles.NewStore(s.store.DB(), profiles.DefaultRules), derive.Config{}).Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events stored (%s after the demo began)", last, time.Since(start).Round(time.Millisecond))

	shots, err := filepath.Abs("../../.local/screenshots")
	if err == nil {
		err = os.MkdirAll(shots, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().In(time.UTC)
	period := "&from=" + today.AddDate(0, 0, -days).Format(time.DateOnly) + "&to=" + today.Format(time.DateOnly)
	cmd := exec.Command("node", "e2e/demo.mjs", dashboards+"/?site=demo"+period+"&lang=en", dashboards+"/people.html?site=demo",
		shots, cfg.Admin, cfg.AdminPassword)
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_CORE="+playwright)
	cmd.Dir = "../../dashboards"
	cmd.Stderr = os.Stderr
	browsed, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	type reportsView struct {
		KPIs, Chart                                        [][]string
		Pages, Sources, Breakdown, Funnel, Affiliates      [][]string
		Lifecycle, Segments, Newsletters, Goals, LivePages [][]string
		Ticks                                              []string
		Heads                                              struct{ Breakdown, Sources, Newsletters []string }
		Broken                                             []string // words of the tables cut across lines
		TickOverflow                                       int      // px of the chart's labels past its right edge
	}
	type peopleView struct {
		Stages, Classes, Segments, Campaigns [][]string
		Broken                               []string
	}
	var seen struct {
		PageErrors []string
		Reports    struct {
			En, Fr, Phone reportsView
			PhoneWidth    int
		}
		People struct {
			En, Fr, Phone peopleView
			PhoneWidth    int
		}
	}
	if err := json.Unmarshal(browsed, &seen); err != nil {
		t.Fatalf("browser printed %s: %v", browsed, err)
	}
	t.Logf("screenshots in %s/demo-*.png", shots)
	if len(seen.PageErrors) > 0 {
		t.Errorf("page errors: %q", seen.PageErrors)
	}
	for view, r := range map[string]reportsView{"English": seen.Reports.En, "French": seen.Reports.Fr, "390 px": seen.Reports.Phone} {
		for _, k := range r.KPIs {
			if zero(k[1]) {
				t.Errorf("reports, %s: the key figure %s is %q", view, k[0], k[1])
			}
		}
		if len(r.KPIs) < 11 {
			t.Errorf("reports, %s: key figures %q", view, r.KPIs)
		}
		busy := 0
		for _, p := range r.Chart {
			if len(p) > 1 && !zero(p[1]) {
				busy++
			}
		}
		if busy < days*3/4 {
			t.Errorf("reports, %s: the chart has visits on %d of its %d points, want most of %d days: %q", view, busy, len(r.Chart), days, r.Chart)
		}
		for name, want := range map[string]struct {
			rows [][]string
			min  int
		}{
			"top pages": {r.Pages, 5}, "top sources": {r.Sources, 5}, "breakdown": {r.Breakdown, 3}, "funnel": {r.Funnel, 4},
			"affiliates": {r.Affiliates, 2}, "lifecycle": {r.Lifecycle, 5}, "segments": {r.Segments, 5}, "newsletters": {r.Newsletters, 2},
			"goals":     {r.Goals, 3},
			"pages now": {r.LivePages, 1},
		} {
			if len(want.rows) < want.min {
				t.Errorf("reports, %s: %s has %d rows, want %d or more: %q", view, name, len(want.rows), want.min, want.rows)
			}
		}
		for _, step := range r.Funnel { // step, rule, visitors, ...
			if len(step) < 3 || zero(step[2]) {
				t.Errorf("reports, %s: a funnel step without visitors: %q", view, step)
			}
		}
		for _, stage := range r.Lifecycle {
			if zero(stage[len(stage)-1]) {
				t.Errorf("reports, %s: nobody in the lifecycle's %q", view, stage)
			}
		}
		for _, seg := range r.Segments {
			if zero(seg[len(seg)-1]) {
				t.Errorf("reports, %s: the segment %q is empty", view, seg)
			}
		}
		for _, g := range r.Goals { // name, definition, conversions, rate, revenue
			if len(g) < 4 || zero(g[2]) || zero(g[3]) {
				t.Errorf("reports, %s: a goal nobody reached: %q", view, g)
			}
		}
		for _, n := range r.Newsletters { // name, sent, opens, clicks, ...
			if len(n) < 4 || zero(n[1]) || zero(n[2]) || zero(n[3]) {
				t.Errorf("reports, %s: a newsletter not sent, opened and clicked: %q", view, n)
			}
		}
	}
	// The breakdown's and top sources' first column is named in the page's
	// language, not the raw dimension; no header or definition is cut
	// mid-word; the chart's last date is inside it; the live visits are
	// the history's French shop, and its affiliates have a commission.
	for view, r := range map[string]reportsView{"English": seen.Reports.En, "French": seen.Reports.Fr, "390 px": seen.Reports.Phone} {
		for name, h := range map[string][]string{"breakdown": r.Heads.Breakdown, "top sources": r.Heads.Sources} {
			if len(h) == 0 || h[0] != "Source" {
				t.Errorf("reports, %s: the %s card's first column is headed %q, want Source", view, name, h)
			}
		}
		if len(r.Broken) > 0 {
			t.Errorf("reports, %s: words cut across lines in the tables: %q", view, r.Broken)
		}
		if r.TickOverflow > 0 {
			t.Errorf("reports, %s: the chart's date labels reach %d px past its right edge: %q", view, r.TickOverflow, r.Ticks)
		}
		for _, p := range append(append([][]string{}, r.Pages...), r.LivePages...) {
			for _, old := range []string{"/shoes", "/hats", "/blog/choosing", "/about"} {
				if strings.HasPrefix(p[0], old) {
					t.Errorf("reports, %s: a page of the old English shop: %q", view, p)
				}
			}
		}
		affiliates := map[string]bool{}
		for _, a := range r.Affiliates { // partner, kind, visitors, sessions, orders, revenue, rate, commission
			if strings.Contains(a[0], "partner") || strings.Contains(a[0], "t.co") {
				t.Errorf("reports, %s: an affiliate of the old English shop: %q", view, a)
			}
			if a[0] == "blogrunning" || a[0] == "cashback-igraal" {
				affiliates[a[0]] = true
				if len(a) < 8 || zero(a[6]) || zero(a[7]) {
					t.Errorf("reports, %s: the demo's affiliate without a rate or commission: %q", view, a)
				}
			}
		}
		if len(affiliates) != 2 {
			t.Errorf("reports, %s: the demo's two affiliates are not both listed: %q", view, r.Affiliates)
		}
	}
	if h := seen.Reports.Phone.Heads.Newsletters; strings.Join(h, "|") != "Newsletters|Envoyés|Clics/ouvertures|ROI" {
		t.Errorf("reports at 390 px: the newsletters' columns %q, want name, sent, click-to-open rate and ROI", h)
	}
	// One campaign's ROI reads the same on both pages, in each language.
	for lang, pair := range map[string]struct {
		reports reportsView
		people  peopleView
	}{"English": {seen.Reports.En, seen.People.En}, "French": {seen.Reports.Fr, seen.People.Fr}} {
		roi := map[string]string{}
		for _, n := range pair.reports.Newsletters {
			roi[n[0]] = n[len(n)-1]
		}
		for _, c := range pair.people.Campaigns {
			if got, ok := roi[c[0]]; !ok || got != c[len(c)-1] {
				t.Errorf("%s: the campaign %q has ROI %q on the people page and %q on the reports page", lang, c[0], c[len(c)-1], got)
			}
		}
	}
	if seen.Reports.PhoneWidth > 390 {
		t.Errorf("reports at 390 px: the page is %d px wide", seen.Reports.PhoneWidth)
	}
	for view, p := range map[string]peopleView{"English": seen.People.En, "French": seen.People.Fr} {
		if len(p.Stages) != 6 {
			t.Errorf("people, %s: stages %q, want 6", view, p.Stages)
		}
		for _, r := range p.Stages { // stage, count, bar
			if len(r) < 2 || zero(r[1]) {
				t.Errorf("people, %s: nobody at the stage %q", view, r)
			}
		}
		if len(p.Classes) < 4 {
			t.Errorf("people, %s: classes %q, want every lifecycle class", view, p.Classes)
		}
		for _, r := range p.Classes {
			if len(r) < 2 || zero(r[1]) {
				t.Errorf("people, %s: nobody in the class %q", view, r)
			}
		}
		for _, class := range []string{"VIP", "clients fidèles"} { // the shop's own classes, given by the demo
			found := false
			for _, r := range p.Classes {
				found = found || strings.HasPrefix(r[0], class+" (") // "VIP (manual)"
			}
			if !found {
				t.Errorf("people, %s: no one in the shop's class %q: %q", view, class, p.Classes)
			}
		}
		if len(p.Segments) < 5 {
			t.Errorf("people, %s: segments %q", view, p.Segments)
		}
		if len(p.Campaigns) < 2 {
			t.Errorf("people, %s: campaigns %q, want the demo's two newsletters", view, p.Campaigns)
		}
	}
	for view, p := range map[string]peopleView{"English": seen.People.En, "French": seen.People.Fr, "390 px": seen.People.Phone} {
		if len(p.Broken) > 0 {
			t.Errorf("people, %s: words cut across lines in the tables: %q", view, p.Broken)
		}
	}
	if seen.People.PhoneWidth > 390 {
		t.Errorf("people at 390 px: the page is %d px wide", seen.People.PhoneWidth)
	}
	for _, name := range []string{"reports-en", "reports-fr", "reports-390", "people-en", "people-fr", "people-390"} {
		if drawn, _ := pixels(t, filepath.Join(shots, "demo-"+name+".png")); drawn < 0.02 {
			t.Errorf("demo-%s.png looks blank: %.1f%% of pixels drawn", name, 100*drawn)
		}
	}
}

// zero is a figure as the pages show nothing: 0, 0%, no duration, no
// amount, a dash, or empty.
func zero(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" || s == "–" || s == "-" {
		return true
	}
	digits := strings.Trim(s, "0.,%€ \u00a0\u202fms")
	return digits == "" || strings.Trim(s, "0123456789.,%€ \u00a0\u202f") == s
}
