package system

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/dashboards/web"
	"footfall/internal/access"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/processor/derive"
	"footfall/tests/stacktest"
)

// TestBrowser opens the dashboard in headless Chromium on a seeded data set
// in the real ClickHouse, switches period and site, applies a filter,
// downloads a CSV and switches to French and to a phone's width; each step's
// numbers are checked exactly, and the screenshots must show the page.
func TestBrowser(t *testing.T) {
	playwright, err := filepath.Abs("../../sdk-js/node_modules/playwright-core/index.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(playwright); err != nil {
		t.Fatal("sdk-js/node_modules is missing: run make test (it runs npm ci in sdk-js)")
	}
	_, store := stacktest.ClickHouse(t)
	d1 := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	d2 := d1.Add(24 * time.Hour)
	const iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	const android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36"
	hit := func(site string, at time.Time, visitor, session, ua, typ, path string) stacktest.Hit {
		f := map[event.Field]string{event.Site: site, event.Type: typ, event.VisitorID: visitor, event.SessionID: session,
			event.URL: "https://shop.example" + path}
		if ua != "" {
			f[event.UserAgent] = ua
		}
		return stacktest.Hit{At: at, Fields: f}
	}
	order := hit("shop", d1.Add(3*time.Minute), "a", "a1", "", "purchase", "/thanks")
	// A property on one event: prop.colour is in the breakdown menu.
	cart := hit("shop", d2.Add(time.Hour+time.Minute), "c", "c1", android, "add_to_cart", "/hats")
	cart.Props = []string{"colour", "red"}
	order.Fields[event.OrderID], order.Revenue = "o1", 50_000_000
	stacktest.Insert(t, store,
		hit("shop", d1, "a", "a1", "", "pageview", "/"),
		hit("shop", d1.Add(time.Minute), "a", "a1", "", "pageview", "/shoes/trail"),
		hit("shop", d1.Add(2*time.Minute), "a", "a1", "", "add_to_cart", "/shoes/trail"),
		order,
		hit("shop", d1.Add(2*time.Hour), "b", "b1", iphone, "pageview", "/"),
		hit("shop", d2, "b", "b2", iphone, "pageview", "/shoes"),
		hit("shop", d2.Add(time.Hour), "c", "c1", android, "pageview", "/shoes"),
		hit("shop", d2.Add(time.Hour+time.Minute), "c", "c1", android, "pageview", "/hats"),
		cart,
		hit("shop", time.Now().Add(-5*time.Minute), "y", "y1", "", "pageview", "/now"),
		hit("other", d1, "o", "o1", "", "pageview", "/welcome"),
	)
	mux := http.NewServeMux()
	reader := stacktest.Reader(t, store)
	accounts := access.NewStore(reader, store.DB())
	if _, err := accounts.SaveUser(context.Background(), "ann", "ann-password-1", false, access.Grants{"shop": access.Editor, "other": access.Viewer}); err != nil {
		t.Fatal(err)
	}
	api.New(reader, store, api.Config{Token: "tok", Access: accounts, Rules: profiles.DefaultRules}).Register(mux)
	mux.Handle("GET /", http.FileServerFS(web.Files))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	// A newsletter sent to two addresses, for the newsletters card.
	post := func(path, ctype, body string) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %s", path, resp.Status)
		}
	}
	post("/api/v1/campaigns", "application/json", `{"site":"shop","name":"Spring","sent_at":"2026-11-10T08:00:00Z"}`)
	// A campaign with a cost: the Newsletters table's cost and ROI.
	post("/api/v1/campaigns", "application/json", `{"site":"shop","name":"Autumn","sent_at":"2026-11-10T09:00:00Z","cost":20}`)
	post("/api/v1/campaigns/spring/recipients?site=shop", "text/csv", "email\nann@example.com\nbob@example.com\n")
	get, _ := http.NewRequest("GET", srv.URL+"/api/v1/campaigns/spring/report?site=shop&format=csv", nil)
	get.Header.Set("Authorization", "Bearer tok")
	if resp, err := http.DefaultClient.Do(get); err != nil {
		t.Fatal(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		const want = "campaign,name,sent,unique_opens,unique_opens_human,unique_opens_machine,unique_clicks,clicks,click_to_open_rate," +
			"unsubscribes,site_sessions,orders,revenue,roi\nspring,Spring,2,0,0,0,0,0,0,0,0,0,0,\n"
		if string(body) != want {
			t.Errorf("campaign report CSV %q, want %q", body, want)
		}
	}

	// The processor's refresh job: the page's session figures, lifecycle
	// and segment sizes are as the last refresh left them.
	if err := derive.New(profiles.NewStore(store.DB(), profiles.DefaultRules), derive.Config{}).Round(context.Background()); err != nil {
		t.Fatal(err)
	}

	shots, err := filepath.Abs("../../.local/screenshots")
	if err == nil {
		err = os.MkdirAll(shots, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "e2e/dashboard.mjs", srv.URL+"/?site=shop&from=2026-11-10&to=2026-11-11&lang=en", shots, "ann", "ann-password-1")
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_CORE="+playwright)
	cmd.Dir = "../../dashboards"
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	type kpis struct {
		Visitors, Pageviews, Sessions, Live, Error string
		Breakdown, Funnel, LivePages, ChartData    [][]string
		Shop, Ticks, ByOptions                     []string
	}
	var seen struct {
		PageErrors []string
		Login      struct {
			MainHidden  bool
			Wrong, User string
			Cookies     []string
		}
		Links       []string
		AfterLogout int
		First       kpis
		Range       kpis
		Compare     kpis
		Site        struct {
			kpis
			GoalFormHidden bool
		}
		Goals struct {
			FormHidden bool
			Rows       [][]string
			Msg        string
		}
		Filter struct {
			Chips                                              string
			Breakdown, KPIs, Pages, Sources, ChartData, Funnel [][]string
			LastYear                                           struct {
				Visitors, Orders string
				ChartData        [][]string
			}
		}
		Prop  [][]string
		Axe   struct{ En, Fr, Phone []any }
		CSV   struct{ Name, Body string }
		Cards struct {
			Affiliates, Lifecycle, Segments, Newsletters, Profile [][]string
			Link                                                  string
		}
		French struct {
			Visitors, Breakdown, Revenue, Text, CSV string
			Lifecycle, Profile, Timeline            [][]string
			Goals, Newsletters                      [][]string
			Names, Heads                            []string
		}
		Phone struct {
			ScrollWidth int
			Wide        []string
		}
		URL string
	}
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("browser printed %s: %v", out, err)
	}
	t.Logf("screenshots in %s", shots)
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	check("page errors", seen.PageErrors, []string(nil))
	check("reports hidden before the login", seen.Login.MainHidden, true)
	check("wrong password", seen.Login.Wrong, "wrong user name or password")
	check("logged in as", seen.Login.User, "ann")
	check("cookies", seen.Login.Cookies, []string{"ff_session true Strict"})
	check("links with a credential", seen.Links, []string{})
	check("the API after logging out", seen.AfterLogout, 401)
	f := seen.First
	check("first load", []string{f.Visitors, f.Pageviews, f.Sessions, f.Live, f.Error}, []string{"3", "6", "4", "1", ""})
	check("pages now", f.LivePages, [][]string{{"/now", "1"}})
	check("e-commerce: orders, revenue, average, visitors who ordered", f.Shop, []string{"1", "€50.00", "€50.00", "33%"})
	check("funnel", f.Funnel, [][]string{
		{"1", "type==pageview", "3", "100%", "0%"},
		{"2", "type==add_to_cart", "2", "67%", "33%"},
		{"3", "type==begin_checkout", "0", "0%", "100%"},
		{"4", "type==purchase", "0", "0%", "0%"},
	})
	if len(f.Ticks) < 5 || f.Ticks[0] != "Nov 10" || f.Ticks[1] != "05:00 AM" {
		t.Errorf("the chart's axis %q, want the dates and hours of the site's clock", f.Ticks)
	}
	if len(f.ChartData) != 48 || !reflect.DeepEqual(f.ChartData[9], []string{"Nov 10, 09:00 AM", "1"}) {
		t.Errorf("the chart's data %q", f.ChartData)
	}
	for _, dim := range []string{"source", "medium", "host", "utm_content", "utm_term", "click_id", "type", "event", "product", "prop.colour"} {
		if !slices.Contains(f.ByOptions, dim) {
			t.Errorf("the breakdown menu %q has no %s", f.ByOptions, dim)
		}
	}
	check("breakdown by a property", seen.Prop, [][]string{{"(none)", "3", "6", "4", "8", "1", "€50.00"}, {"red", "1", "0", "1", "1", "0", "€0.00"}})
	check("the chart against the day before", seen.Compare.ChartData[9:12], [][]string{{"Nov 11, 09:00 AM", "1", "1"}, {"Nov 11, 10:00 AM", "1", "0"}, {"Nov 11, 11:00 AM", "0", "1"}})
	if len(f.Breakdown) == 0 {
		t.Error("no breakdown by source on the first load")
	}
	check("one day", []string{seen.Range.Visitors, seen.Range.Pageviews}, []string{"2", "3"})
	check("against the day before", seen.Compare.Visitors, "+0%")
	check("other site", seen.Site.Visitors, "1")
	check("other site's devices", seen.Site.Breakdown, [][]string{{"desktop", "1", "1", "1", "1", "0", "€0.00"}})
	check("filter chip", seen.Filter.Chips, "device==mobile×")
	check("mobile only", seen.Filter.Breakdown, [][]string{{"mobile", "2", "4", "3", "5", "0", "€0.00"}})
	// Every figure of the period follows the filter, each key figure the
	// API's filtered one (the last 30 minutes' visitors excepted).
	check("mobile's key figures", seen.Filter.KPIs, [][]string{{"visitors", "2"}, {"pageviews", "4"}, {"sessions", "3"},
		{"returning", "33%"}, {"bounce", "67%"}, {"duration", "0m 20s"}, {"live", "1"},
		{"orders", "0"}, {"revenue", "€0.00"}, {"aov", "–"}, {"conversion", "0%"}})
	var totals api.Table
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/timeseries?site=shop&from=2026-11-10&to=2026-11-12&interval=period&filter=device==mobile", nil)
	req.Header.Set("Authorization", "Bearer tok")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		err = json.NewDecoder(resp.Body).Decode(&totals)
		resp.Body.Close()
		if err != nil || len(totals.Rows) != 1 {
			t.Fatalf("the API's filtered totals: %v %v", err, totals.Rows)
		}
	}
	for i, c := range totals.Columns[1:] {
		v := totals.Rows[0][i+1].(float64)
		want := fmt.Sprint(v)
		switch c {
		case "bounce_rate":
			c, want = "bounce", fmt.Sprintf("%.0f%%", 100*v)
		case "visit_duration_seconds":
			c, want = "duration", fmt.Sprintf("0m %.0fs", v)
		}
		for _, k := range seen.Filter.KPIs {
			if k[0] == c && k[1] != want {
				t.Errorf("the page's %s where device==mobile %q, the API's %q", c, k[1], want)
			}
		}
	}
	check("mobile's top pages", seen.Filter.Pages, [][]string{{"/shoes", "2", "2"}, {"/hats", "1", "1"}, {"/", "1", "1"}})
	check("mobile's top sources", seen.Filter.Sources, [][]string{{"(direct)", "2", "4"}})
	check("mobile's funnel", seen.Filter.Funnel[:2], [][]string{{"1", "type==pageview", "2", "100%", "0%"}, {"2", "type==add_to_cart", "1", "50%", "50%"}})
	if ch := seen.Filter.ChartData; len(ch) != 48 || !reflect.DeepEqual(ch[11], []string{"Nov 10, 11:00 AM", "1", "0"}) || ch[9][1] != "0" {
		t.Errorf("mobile's chart (and the period before) %q", ch)
	}
	check("against last year", []string{seen.Filter.LastYear.Visitors, seen.Filter.LastYear.Orders}, []string{"new", ""})
	check("last year's chart", seen.Filter.LastYear.ChartData, [][]string{{"Nov 10, 12:00 AM", "0", "0"}})
	check("CSV name", seen.CSV.Name, "breakdown-device-shop-2026-11-10-2026-11-12.csv")
	check("CSV", seen.CSV.Body, "device,visitors,pageviews,sessions,events,orders,revenue EUR\nmobile,2,4,3,5,0,0\n")
	fr := seen.French
	check("French", []string{fr.Visitors, fr.Breakdown, fr.Revenue}, []string{"visiteurs uniques", "Répartition", "50,00\u00a0€"})
	check("French names", fr.Names, []string{"Période", "Langue", "Filtre", "Répartir par", "Étapes de l'entonnoir, une par ligne",
		"Supprimer l'objectif Shoes", "Supprimer l'objectif Order", "Identifiant d'affilié", "Page d'arrivée", "E-mail ou identifiant de visiteur"})
	check("French lifecycle", fr.Lifecycle, [][]string{{"visiteur", "4"}, {"abonné", "0"}, {"prospect", "1"}, {"client", "1"}, {"fidèle", "0"}})
	check("French profile", fr.Profile[:2], [][]string{{"classe", "client"}, {"étape", "conversion"}})
	check("French timeline", fr.Timeline[0], []string{"10/11/2026 09:03", "commande", "/thanks"})
	for _, en := range []string{"Visitors", "Orders", "Revenue", "customer", "subscriber", "Compare with", "previous period", "Log out",
		"Funnel", "Breakdown", "Sessions", "Members", "Sent", "class ", "stage ", " AM", " PM", "€50.00"} {
		if strings.Contains(fr.Text, en) || slices.Contains(fr.Heads, strings.TrimSpace(en)) {
			t.Errorf("the French page still says %q", en)
		}
	}
	check("French Excel CSV", fr.CSV, "\ufeffdevice;visitors;pageviews;sessions;events;orders;revenue EUR\r\nmobile;2;4;3;5;0;0\r\ndesktop;1;2;1;4;1;50\r\n")
	for view, v := range map[string][]any{"English": seen.Axe.En, "French": seen.Axe.Fr, "390 px": seen.Axe.Phone} {
		if len(v) != 0 {
			t.Errorf("axe-core's WCAG 2.2 AA violations in %s: %v", view, v)
		}
	}
	check("tables cut off at 390 px (wider than their card, not in a scrolling box)", seen.Phone.Wide, []string{})
	c := seen.Cards
	check("affiliates", c.Affiliates, [][]string{})
	check("affiliate link", c.Link, "https://shop.example/shoes?aff=blog1&utm_medium=affiliate&utm_source=blog1")
	check("lifecycle", c.Lifecycle, [][]string{{"visitor", "4"}, {"subscriber", "0"}, {"prospect", "1"}, {"customer", "1"}, {"loyal", "0"}})
	check("segments", c.Segments, [][]string{{"class subscriber", "0"}, {"class prospect", "1"}, {"class customer", "1"},
		{"class loyal", "0"}, {"stage reactivation", "0"}})
	check("newsletters (cost and ROI)", c.Newsletters, [][]string{
		{"Autumn", "0", "0", "0", "0%", "0", "0", "€0.00", "€20.00", "-100%"},
		{"Spring", "2", "0", "0", "0%", "0", "0", "€0.00", "–", "–"}})
	check("French newsletters' cost and ROI", [][]string{fr.Newsletters[0][8:], fr.Newsletters[1][8:]}, [][]string{{"20,00\u00a0€", "-100\u00a0%"}, {"–", "–"}})
	// Goals: saved and deleted in the page by an editor, none to add for
	// a viewer; each figure the page shows is the API's.
	check("goal form for a viewer", seen.Site.GoalFormHidden, true)
	check("goal form for an editor", seen.Goals.FormHidden, false)
	check("goals", seen.Goals.Rows, [][]string{{"Shoes", "page /shoes*", "3", "100%", "–", "×"}, {"Order", "order", "1", "33.3%", "€50.00", "×"}})
	check("goals' message", seen.Goals.Msg, "")
	check("French goals", fr.Goals, [][]string{{"Shoes", "page /shoes*", "3", "100\u00a0%", "–", "×"}, {"Order", "commande", "1", "33,3\u00a0%", "50,00\u00a0€", "×"}})
	var goals api.Table
	req, _ = http.NewRequest("GET", srv.URL+"/api/v1/goals?site=shop&from=2026-11-10&to=2026-11-12", nil)
	req.Header.Set("Authorization", "Bearer tok")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		err = json.NewDecoder(resp.Body).Decode(&goals)
		resp.Body.Close()
		if err != nil || len(goals.Rows) != 2 {
			t.Fatalf("the API's goals: %v %v", err, goals.Rows)
		}
	}
	for i, r := range goals.Rows {
		if i < len(seen.Goals.Rows) {
			page := seen.Goals.Rows[i]
			check("goal "+fmt.Sprint(r[1]), []string{page[0], page[2], page[3]},
				[]string{fmt.Sprint(r[1]), fmt.Sprint(r[4]), strconv.FormatFloat(math.Round(1000*r[5].(float64))/10, 'f', -1, 64) + "%"})
		}
	}
	check("profile", c.Profile, [][]string{{"class", "customer"}, {"stage", "conversion"}, {"Orders", "1"}, {"Revenue", "€50.00"},
		{"populations", ""}, {"devices", "1"}})
	if seen.Phone.ScrollWidth > 390 {
		t.Errorf("at a phone's 390 px the page is %d px wide", seen.Phone.ScrollWidth)
	}
	for _, name := range []string{"overview.png", "filtered.png", "french.png", "phone.png"} {
		drawn, accent := pixels(t, filepath.Join(shots, name))
		if drawn < 0.02 || accent < 200 {
			t.Errorf("%s looks blank: %.1f%% of pixels drawn, %d in the chart's blue", name, 100*drawn, accent)
		}
	}
}

// pixels says which share of a screenshot differs from the page's white and
// grey backgrounds, and how many pixels have the chart's blue (#3461d1).
func pixels(t *testing.T, path string) (drawn float64, accent int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var n, total int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			total++
			if !(r == 255 && g == 255 && bl == 255) && !(r == 0xf7 && g == 0xf8 && bl == 0xfa) {
				n++
			}
			if r == 0x34 && g == 0x61 && bl == 0xd1 {
				accent++
			}
		}
	}
	var _ image.Image = img
	return float64(n) / float64(total), accent
}
