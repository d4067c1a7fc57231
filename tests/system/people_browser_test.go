package system

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/dashboards/web"
	"footfall/internal/access"
	"footfall/internal/event"
	"footfall/internal/links"
	"footfall/internal/profiles"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// TestBrowserPeople: on the dashboards' People and newsletters page in
// headless Chromium, an editor builds the segment "pros and resellers who
// bought at least twice but not in 90 days" (an OR group of populations,
// an AND group of order rules), sees and exports exactly its people, gives
// a person the class VIP (read back from ClickHouse), creates a campaign
// with its cost, imports recipients (the bad row named with its line) and
// rewrites a newsletter; the page in French and at 390 px is screenshot;
// a viewer sees no control that changes something.
func TestBrowserPeople(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	ago := func(days int) time.Time { return now.Add(-time.Duration(days) * 24 * time.Hour) }

	// Each person: populations, and orders so many days ago. Orders are
	// written straight into ClickHouse with their past times.
	type person struct {
		email string
		pops  []string
		days  []int
	}
	people := []person{
		{"pro1@x.example", []string{"pro"}, []int{120, 100}},             // in
		{"res1@x.example", []string{"revendeur"}, []int{200, 150, 95}},   // in
		{"both@x.example", []string{"pro", "revendeur"}, []int{300, 91}}, // in, once
		{"pro2@x.example", []string{"pro"}, []int{120, 10}},              // ordered 10 days ago
		{"res2@x.example", []string{"revendeur"}, []int{100}},            // once only
		{"res3@x.example", []string{"revendeur"}, []int{100, 89}},        // 89 days ago
		{"cons@x.example", []string{"consommateur"}, []int{120, 100}},    // a consumer
		{"gros@x.example", []string{"grossiste"}, []int{120, 100}},       // a wholesaler
		{"b2b@x.example", []string{"Pro B2B"}, []int{120, 100}},          // "Pro B2B" is not "pro"
		{"anon@x.example", nil, []int{120, 100}},                         // no population
		{"new@x.example", []string{"pro"}, nil},                          // no order
	}
	var hits []stacktest.Hit
	for i, p := range people {
		visitor := fmt.Sprintf("v%d", i)
		f := func(typ string) map[event.Field]string {
			return map[event.Field]string{event.Site: "shop", event.Type: typ, event.VisitorID: visitor, event.URL: "https://shop.example/"}
		}
		sub := f("signup")
		sub[event.UserID] = p.email
		hits = append(hits, stacktest.Hit{At: ago(400), Fields: sub, Ingest: event.IngestAPI})
		for j, d := range p.days {
			o := f("purchase")
			o[event.OrderID] = fmt.Sprintf("o%d-%d", i, j)
			hits = append(hits, stacktest.Hit{At: ago(d), Fields: o, Revenue: 80_000_000, Ingest: event.IngestAPI})
		}
	}
	stacktest.Insert(t, store, hits...)
	ps := profiles.NewStore(store.DB(), profiles.DefaultRules)
	for _, p := range people {
		if p.pops != nil {
			if _, err := ps.SetOverride(ctx, "shop", p.email, nil, p.pops); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := ps.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}

	out := browsePeople(t, store, "e2e/people.mjs", "vi", "viewer-password-1")
	var seen struct {
		PageErrors                     []string
		Lang, Saved, Size, Csv         string
		Manual, Imported, Rewritten    string
		RewriteMsg, FrBuilder          string
		ViewerLang, ViewerRole         string
		Stages, Members, Segments      [][]string
		Profile, Classes, ImportErrors [][]string
		Merge, Campaigns, Report       [][]string
		FrStages, FrMembers, FrProfile [][]string
		FrReport                       [][]string
		FrSegHead, FrLangName          string
		FrGroups                       []string
		Unnamed                        []string
		PhoneOverflow                  int
		PhoneClipped                   []int
		ViewerHidden                   []bool
		Axe                            map[string][]axeViolation
	}
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(seen.PageErrors) > 0 {
		t.Errorf("page errors: %v", seen.PageErrors)
	}
	checkAxe(t, seen.Axe, "en", "fr", "phone", "viewer")
	want := []string{"both@x.example", "pro1@x.example", "res1@x.example"}
	var shown []string
	for _, m := range seen.Members {
		shown = append(shown, m[0])
	}
	if !slices.Equal(shown, want) || !strings.HasPrefix(seen.Size, "3 ") || !strings.Contains(seen.Saved, "3 members") {
		t.Errorf("members %q (size %q, %q), want %q", seen.Members, seen.Size, seen.Saved, want)
	}
	records, err := csv.NewReader(strings.NewReader(seen.Csv)).ReadAll()
	if err != nil {
		t.Fatalf("export: %v\n%s", err, seen.Csv)
	}
	var exported []string
	for _, r := range records[1:] {
		exported = append(exported, r[0])
	}
	if !slices.Equal(exported, want) || records[0][4] != "populations" || records[1][4] != "pro|revendeur" || records[1][8] != "2" {
		t.Errorf("exported %q, want %q:\n%s", exported, want, seen.Csv)
	}

	// The class is in ClickHouse, and the people of class VIP are one.
	o, err := ps.Manual(ctx, "shop", "cons@x.example")
	if err != nil {
		t.Fatal(err)
	}
	if o.Class != "VIP" || !slices.Equal(o.Populations, []string{"consommateur", "clients fidèles"}) {
		t.Errorf("cons@x.example's manual record %+v (page said %q)", o, seen.Manual)
	}
	if !slices.ContainsFunc(seen.Classes, func(r []string) bool { return r[0] == "VIP (manual)" && r[1] == "1" }) {
		t.Errorf("classes %q", seen.Classes)
	}
	if !slices.ContainsFunc(seen.Profile, func(r []string) bool { return r[1] == "VIP" }) {
		t.Errorf("profile %q", seen.Profile)
	}

	// Lifecycle stages, in funnel order.
	var stages []string
	for _, s := range seen.Stages {
		stages = append(stages, s[0]+"="+s[1])
	}
	// 11 identified people: 1 without an order (acquisition), res2 one
	// order 100 days ago and 8 others with their last order 90 days ago or
	// more (reactivation), pro2 and res3 (retention).
	if got := strings.Join(stages, " "); got != "attraction=0 acquisition=1 qualification=0 conversion=0 retention=2 reactivation=8" {
		t.Errorf("stages %s", got)
	}

	// The newsletter.
	if seen.Imported != "Added: 2; recipients in all: 2; rows refused: 1." || len(seen.ImportErrors) != 1 || seen.ImportErrors[0][0] != "3" || seen.ImportErrors[0][1] != "not-an-address" {
		t.Errorf("import %q, errors %q", seen.Imported, seen.ImportErrors)
	}
	if len(seen.Merge) != 2 || seen.Merge[0][0] != "pro1@x.example" || seen.Merge[0][1] != "C1" || !strings.HasPrefix(seen.Merge[0][3], "https://collect.example/") {
		t.Errorf("merge fields %q", seen.Merge)
	}
	if !strings.Contains(seen.Rewritten, "https://collect.example/") || !strings.Contains(seen.Rewritten, `href="#top"`) || !strings.HasPrefix(seen.RewriteMsg, "Links tracked: 1; left as they were: 1.") {
		t.Errorf("rewritten %q (%q)", seen.Rewritten, seen.RewriteMsg)
	}
	if len(seen.Campaigns) != 1 || seen.Campaigns[0][0] != "Relance pros" || seen.Campaigns[0][1] != "2" || seen.Campaigns[0][6] != "€150.00" || seen.Campaigns[0][7] != "-100%" {
		t.Errorf("campaigns %q", seen.Campaigns)
	}

	// Languages, names, phone, roles.
	if seen.Lang != "en" || !strings.HasPrefix(seen.FrBuilder, "Créer un segment") || len(seen.FrStages) != 6 || seen.FrStages[5][0] != "réactivation" {
		t.Errorf("languages: %q, %q, %q", seen.Lang, seen.FrBuilder, seen.FrStages)
	}
	// After the switch every table is French, amounts in French, and the
	// builder keeps its choices.
	if !strings.HasPrefix(strings.TrimSpace(seen.FrSegHead), "Nom") || len(seen.FrMembers) != 3 || seen.FrMembers[0][2] != "réactivation" ||
		strings.ReplaceAll(seen.FrMembers[0][5], "\u202f", " ") != "160,00\u00a0€" || seen.FrProfile[0][0] != "Personne" ||
		seen.FrReport[0][0] != "Envoyés" || seen.FrReport[0][1] != "2" || !slices.Equal(seen.FrGroups, []string{"pro", "revendeur"}) {
		t.Errorf("in French: head %q, members %q, profile %q, report %q, builder %q", seen.FrSegHead, seen.FrMembers, seen.FrProfile, seen.FrReport, seen.FrGroups)
	}
	if seen.FrLangName != "Langue" {
		t.Errorf("the language switch is named %q in French", seen.FrLangName)
	}
	if len(seen.Unnamed) > 0 {
		t.Errorf("controls without an accessible name: %q", seen.Unnamed)
	}
	if seen.PhoneOverflow > 0 {
		t.Errorf("at 390 px the page is %d px wider than the screen", seen.PhoneOverflow)
	}
	if len(seen.PhoneClipped) != 2 || seen.PhoneClipped[0] > 0 || seen.PhoneClipped[1] > 0 {
		t.Errorf("at 390 px the campaigns and members tables are %v px wider than their cards", seen.PhoneClipped)
	}
	if seen.ViewerLang != "fr" || !slices.Equal(seen.ViewerHidden, []bool{true, true, true, true}) || !strings.Contains(seen.ViewerRole, "éditeur") {
		t.Errorf("viewer: %q, hidden %v, %q", seen.ViewerLang, seen.ViewerHidden, seen.ViewerRole)
	}
}

// TestBrowserCustomerImport: on the People page in headless Chromium, an
// editor uploads a customers CSV of five rows (one not an e-mail address)
// and an orders CSV; the page says what came in, names the bad row with its
// file, line and reason, and shows the four people classified as the files
// say (class, populations, lifecycle stage from their orders), in English
// and in French; ClickHouse holds the same; the page in both languages and
// at 390 px is screenshot and has no axe-core violation.
func TestBrowserCustomerImport(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	day := func(days int) string { return time.Now().UTC().AddDate(0, 0, -days).Format("2006-01-02") }
	dir := t.TempDir()
	customers := filepath.Join(dir, "clients.csv")
	orders := filepath.Join(dir, "commandes.csv")
	// As French Excel writes it: a byte order mark, ";", French headers.
	if err := os.WriteFile(customers, []byte("\ufeffCourriel;external_id;Classe;Populations\r\n"+
		"alice@shop.example;A-1;VIP;pro|revendeur\r\n"+
		"bruno@shop.example;A-2;;particulier\r\n"+
		"chloe@shop.example;A-3;;grossiste\r\n"+
		"pas-une-adresse;A-4;;pro\r\n"+
		"denis@shop.example;A-5;clients fidèles;Pro B2B\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(orders, []byte("email;order_id;date;montant;devise\r\n"+
		"alice@shop.example;O-1;"+day(10)+";120,50;EUR\r\n"+
		"alice@shop.example;O-2;"+day(5)+";80;EUR\r\n"+
		"bruno@shop.example;O-3;"+day(200)+";45;EUR\r\n"+
		"chloe@shop.example;O-4;"+day(30)+";300;EUR\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := browsePeople(t, store, "e2e/people-import.mjs", customers, orders)
	var seen struct {
		PageErrors              []string
		Message, FrMessage      string
		Errors, People, Classes [][]string
		FrErrors, FrPeople      [][]string
		FrNames                 []string
		PhoneOverflow           int
		PhoneClipped            []int
		Axe                     map[string][]axeViolation
	}
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(seen.PageErrors) > 0 {
		t.Errorf("page errors: %v", seen.PageErrors)
	}
	checkAxe(t, seen.Axe, "en", "fr", "phone")

	// What the files say: alice VIP by hand, two orders, the last 5 days
	// ago (retention); bruno one order 200 days ago (customer,
	// reactivation); chloe one order 30 days ago (customer, conversion);
	// denis the shop's own class and no order (acquisition).
	want := [][]string{
		{"alice@shop.example", "VIP", "retention", "pro, revendeur", "2", "€200.50"},
		{"bruno@shop.example", "customer", "reactivation", "particulier", "1", "€45.00"},
		{"chloe@shop.example", "customer", "conversion", "grossiste", "1", "€300.00"},
		{"denis@shop.example", "clients fidèles", "acquisition", "Pro B2B", "0", "€0.00"},
	}
	if fmt.Sprint(seen.People) != fmt.Sprint(want) {
		t.Errorf("imported people in the page:\n%q\nwant\n%q", seen.People, want)
	}
	if seen.Message != "Customers: 4; consents: 0; orders: 4; orders already in: 0; rows refused: 1." || len(seen.Errors) != 1 ||
		!slices.Equal(seen.Errors[0][:3], []string{"customers", "5", "pas-une-adresse"}) || !strings.Contains(seen.Errors[0][3], "e-mail") {
		t.Errorf("import message %q, errors %q", seen.Message, seen.Errors)
	}
	frWant := [][]string{
		{"alice@shop.example", "VIP", "fidélisation", "pro, revendeur", "2", "200,50\u00a0€"},
		{"bruno@shop.example", "client", "réactivation", "particulier", "1", "45,00\u00a0€"},
		{"chloe@shop.example", "client", "conversion", "grossiste", "1", "300,00\u00a0€"},
		{"denis@shop.example", "clients fidèles", "acquisition", "Pro B2B", "0", "0,00\u00a0€"},
	}
	for _, r := range seen.FrPeople {
		r[5] = strings.ReplaceAll(r[5], "\u202f", " ")
	}
	if fmt.Sprint(seen.FrPeople) != fmt.Sprint(frWant) || !strings.HasPrefix(seen.FrMessage, "Clients : 4 ;") ||
		len(seen.FrErrors) != 1 || seen.FrErrors[0][0] != "clients" || !slices.Equal(seen.FrNames, []string{"CSV des clients", "CSV des commandes"}) {
		t.Errorf("in French: %q, %q, %q, names %q", seen.FrMessage, seen.FrErrors, seen.FrPeople, seen.FrNames)
	}
	if seen.PhoneOverflow > 0 || len(seen.PhoneClipped) != 2 || seen.PhoneClipped[0] > 0 || seen.PhoneClipped[1] > 0 {
		t.Errorf("at 390 px: the page %d px wider than the screen, the errors and people tables %v px wider than their card", seen.PhoneOverflow, seen.PhoneClipped)
	}

	// ClickHouse: the people as the people table and rules have them after
	// a refresh, and the orders with their amounts.
	ps := profiles.NewStore(store.DB(), profiles.DefaultRules)
	if _, err := ps.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		p, _, err := ps.Get(ctx, "shop", profiles.Ref{UserID: w[0]})
		if err != nil {
			t.Fatalf("%s: %v", w[0], err)
		}
		pops := slices.Clone(p.Populations)
		slices.Sort(pops)
		if got := []string{w[0], p.Class, p.Stage, strings.Join(pops, ", "), fmt.Sprint(p.Orders)}; !slices.Equal(got, w[:5]) {
			t.Errorf("in ClickHouse %q, want %q", got, w[:5])
		}
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE site_id = 'shop' AND type = 'purchase' AND user_id = 'alice@shop.example' AND currency = 'EUR' AND revenue_micros IN (120500000, 80000000)"); n != 2 {
		t.Errorf("alice's orders in ClickHouse: %d, want 2", n)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE site_id = 'shop' AND user_id = 'pas-une-adresse'"); n != 0 {
		t.Errorf("the refused row has %d events", n)
	}
}

// browsePeople serves the dashboards' API and pages on store, with the
// editor "ed" (editor-password-1) and the viewer "vi" (viewer-password-1)
// of the site shop, runs the e2e script (in dashboards/) in headless
// Chromium with people.html's URL, the screenshot directory
// (.local/screenshots), the editor's name and password and args, and
// returns what the script printed.
func browsePeople(t *testing.T, store *chstore.Store, script string, args ...string) []byte {
	t.Helper()
	playwright, err := filepath.Abs("../../sdk-js/node_modules/playwright-core/index.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(playwright); err != nil {
		t.Fatal("sdk-js/node_modules is missing: run make test (it runs npm ci in sdk-js)")
	}
	ctx := context.Background()
	reader := stacktest.Reader(t, store)
	accounts := access.NewStore(reader, store.DB())
	if _, err := accounts.SaveUser(ctx, "ed", "editor-password-1", false, access.Grants{"shop": access.Editor}); err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.SaveUser(ctx, "vi", "viewer-password-1", false, access.Grants{"shop": access.Viewer}); err != nil {
		t.Fatal(err)
	}
	signer, err := links.NewSigner("people-browser-test-secret")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(reader, store, api.Config{Token: "tok", Access: accounts, Rules: profiles.DefaultRules,
		Links: signer, CollectorURL: "https://collect.example"}).Register(mux)
	mux.Handle("GET /", api.Pages(http.FileServerFS(web.Files)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	shots, err := filepath.Abs("../../.local/screenshots")
	if err == nil {
		err = os.MkdirAll(shots, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{script, srv.URL + "/people.html?site=shop", shots, "ed", "editor-password-1"}, args...)
	cmd := exec.Command("node", argv...)
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_CORE="+playwright)
	cmd.Dir = "../../dashboards"
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return out
}

// axeViolation is a rule axe-core found broken (dashboards/e2e/axe.mjs).
type axeViolation struct {
	ID, Impact, Help string
	Nodes            []string
}

// checkAxe fails the test for each violation axe-core found in the named views.
func checkAxe(t *testing.T, found map[string][]axeViolation, views ...string) {
	t.Helper()
	for _, v := range views {
		got, ok := found[v]
		if !ok {
			t.Errorf("axe-core did not check the %s view", v)
		}
		for _, x := range got {
			t.Errorf("axe-core, %s view: %s (%s): %s\n\t%s", v, x.ID, x.Impact, x.Help, strings.Join(x.Nodes, "\n\t"))
		}
	}
}
