package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/profiles"
	refreshes "footfall/internal/refresh"
	"footfall/processor/chstore"
	"footfall/processor/derive"
	"footfall/tests/stacktest"
)

// buyersRevenue is each person's revenue in the people table, in micros.
func buyersRevenue(t *testing.T, store *chstore.Store, site string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	rows, err := store.DB().Query(context.Background(), qBuyersRevenue, chsql.Args{"site": site})
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var r int64
		if err := rows.Scan(&k, &r); err != nil {
			t.Fatal(err)
		}
		out[k] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var qBuyersRevenue = chsql.New("api.test_buyers_revenue", `SELECT person_key, argMax(revenue, version) FROM people
WHERE site_id = @site AND deleted = 0 GROUP BY person_key ORDER BY person_key`)

// TestLateRatesRecomputePeople: 13 buyers of 100000 JPY each on 10
// November, seen by a refresh before that day's rate was loaded (the ECB
// publishes at 16:00 CET; orders come in all day), have revenue 0 in the
// people table. Loading the rate (POST /api/v1/rates, as bin/fx does
// through money.Load) marks them touched, so the next refresh, with no
// new event of theirs, makes each 625 EUR and loyal (>= 500). Before, they
// stayed at 0 and customers until their next event.
func TestLateRatesRecomputePeople(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	day := time.Date(2026, 11, 10, 10, 0, 0, 0, time.UTC)
	var hits []stacktest.Hit
	for i := 1; i <= 13; i++ {
		hits = append(hits, stacktest.Hit{At: day.Add(time.Duration(i) * time.Minute), Revenue: 100000_000_000, Ingest: event.IngestAPI,
			Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase", event.VisitorID: fmt.Sprintf("b%02d", i),
				event.OrderID: fmt.Sprintf("o%02d", i), event.Currency: "JPY"}})
	}
	// A buyer of another week, whose conversion the rate does not change.
	hits = append(hits, stacktest.Hit{At: day.AddDate(0, 0, -20), Revenue: 10_000_000, Ingest: event.IngestAPI,
		Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase", event.VisitorID: "early", event.OrderID: "oe", event.Currency: "EUR"}})
	stacktest.Insert(t, store, hits...)
	// The orders' own touches older than the refresh's slack
	// (refresh.TouchedSlack), so that only the first refresh reads them.
	time.Sleep(refreshes.TouchedSlack + 1500*time.Millisecond)
	refresh(t, store)
	revenues := func() map[string]int64 { return buyersRevenue(t, store, "shop") }
	if r := revenues(); len(r) != 14 || r["b01"] != 0 || r["early"] != 10_000_000 {
		t.Fatalf("before the rate: %v, want 13 buyers at 0 and early at 10 EUR", r)
	}
	// Past the refresh's slack (refreshes.TouchedSlack), so that the next
	// refresh sees none of the orders' own touches again.
	time.Sleep(refreshes.TouchedSlack + time.Second)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules,
		Now: func() time.Time { return day.Add(24 * time.Hour) }}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/rates", strings.NewReader("Date,JPY\n2026-11-10,160\n"))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("load rates: %d", resp.StatusCode)
	}
	refresh(t, store)
	r := revenues()
	for i := 1; i <= 13; i++ {
		k := fmt.Sprintf("b%02d", i)
		if r[k] != 625_000_000 {
			t.Errorf("%s: revenue %d micros in the people table, want 625 EUR", k, r[k])
		}
		var p map[string]any
		if code := get(t, srv, "/api/v1/profile?site=shop&visitor_id="+k, "tok", &p); code != 200 || p["class"] != profiles.ClassLoyal {
			t.Errorf("%s: profile %d, class %v, want %s", k, code, p["class"], profiles.ClassLoyal)
		}
	}
	if r["early"] != 10_000_000 {
		t.Errorf("early: %d", r["early"])
	}
}

// TestCurrencyChangeRecomputesPeople: a site's buyers are recomputed in
// its new reporting currency after it changes (PATCH /api/v1/sites), with
// no new event of theirs: 100000 JPY at 160 JPY and 1.1 USD per euro is
// 625 EUR, then 687.5 USD. Before, the people table kept 625 (in a site
// now reporting USD) until each buyer's next event.
func TestCurrencyChangeRecomputesPeople(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	srv, reg := sitesServer(t, store)
	if code, b := call(t, srv, "POST", "/api/v1/sites", `{"id":"shop","time_zone":"UTC","currency":"EUR"}`); code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	day := time.Date(2026, 11, 10, 10, 0, 0, 0, time.UTC)
	var hits []stacktest.Hit
	for i := 1; i <= 3; i++ {
		hits = append(hits, stacktest.Hit{At: day.Add(time.Duration(i) * time.Minute), Revenue: 100000_000_000, Ingest: event.IngestAPI,
			Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase", event.VisitorID: fmt.Sprintf("b%d", i),
				event.OrderID: fmt.Sprintf("o%d", i), event.Currency: "JPY"}})
	}
	stacktest.Insert(t, store, hits...)
	if code, b := call(t, srv, "POST", "/api/v1/rates", "Date,JPY,USD\n2026-11-10,160,1.1\n"); code != 200 {
		t.Fatalf("rates: %d %s", code, b)
	}
	people := profiles.NewStore(store.DB(), profiles.DefaultRules)
	people.SetSiteRules(profiles.SiteRules(reg))
	round := func() {
		t.Helper()
		if err := derive.New(people, derive.Config{}).Round(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(refreshes.TouchedSlack + 1500*time.Millisecond)
	round()
	if r := buyersRevenue(t, store, "shop"); len(r) != 3 || r["b1"] != 625_000_000 {
		t.Fatalf("in EUR: %v, want 3 buyers at 625", r)
	}
	time.Sleep(refreshes.TouchedSlack + 1500*time.Millisecond)
	if code, b := call(t, srv, "PATCH", "/api/v1/sites/shop", `{"currency":"USD"}`); code != 200 {
		t.Fatalf("change currency: %d %s", code, b)
	}
	round()
	for k, v := range buyersRevenue(t, store, "shop") {
		if v != 687_500_000 {
			t.Errorf("%s: %d micros after the change to USD, want 687.5", k, v)
		}
	}
}
