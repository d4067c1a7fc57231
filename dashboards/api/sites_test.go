package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/internal/sites"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// sitesServer is the API with the site registry, as the dashboards run it.
func sitesServer(t *testing.T, store *chstore.Store) (*httptest.Server, *sites.Registry) {
	t.Helper()
	reader := stacktest.Reader(t, store)
	reg := sites.NewRegistry(sites.NewStore(reader))
	if err := reg.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(reader, store, api.Config{Token: "tok", Rules: profiles.DefaultRules,
		Commission: api.Commission{Default: 0.05}, Sites: reg}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, reg
}

// TestSitesAPI: sites are made and changed through the API, with a 400
// that says what is wrong; a new key is shown once, works at once in this
// process, and stops working when revoked.
func TestSitesAPI(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	srv, reg := sitesServer(t, store)
	for body, want := range map[string]string{
		`{"id":"paris","currency":"EUR"}`:                                                             "time_zone: required",
		`{"id":"paris","time_zone":"Europe/Pariss","currency":"EUR"}`:                                 "unknown time zone",
		`{"id":"paris","time_zone":"Europe/Paris"}`:                                                   "currency: required",
		`{"id":"paris","time_zone":"Europe/Paris","currency":"EURO"}`:                                 "ISO 4217",
		`{"id":"paris","time_zone":"Europe/Paris","currency":"EUR","domains":["https://x.example/"]}`: "domain",
		`{"id":"paris","time_zone":"Europe/Paris","currency":"EUR","colour":"red"}`:                   "unknown field",
		`{"id":"paris","time_zone":"Europe/Paris","currency":"EUR","inactive_days":0}`:                "inactive_days",
		`{"id":"par is","time_zone":"Europe/Paris","currency":"EUR"}`:                                 "id:",
		`{"id":"paris","time_zone":"Europe/Paris","currency":"EUR","keys":[{"id":"x"}]}`:              "keys",
		`not json`: "body",
	} {
		if code, b := call(t, srv, "POST", "/api/v1/sites", body); code != 400 || !strings.Contains(string(b), want) {
			t.Errorf("POST %s: %d %s, want 400 saying %q", body, code, b, want)
		}
	}
	code, b := call(t, srv, "POST", "/api/v1/sites", `{"id":"paris","name":"Paris shop","time_zone":"Europe/Paris","currency":"eur","domains":["Shop.Example"]}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	var s sites.Site
	decode(t, b, &s)
	// What the body left out is the dashboards' flags'.
	if s.Currency != "EUR" || s.Domains[0] != "shop.example" || s.LoyalOrders != 3 || s.LoyalRevenue != 500 || s.InactiveDays != 90 || s.AffiliateRate != 0.05 {
		t.Errorf("created %+v", s)
	}
	if code, b := call(t, srv, "POST", "/api/v1/sites", `{"id":"paris","time_zone":"UTC","currency":"EUR"}`); code != 409 {
		t.Errorf("second create: %d %s", code, b)
	}
	if got, ok := reg.Get("paris"); !ok || got.TimeZone != "Europe/Paris" {
		t.Fatalf("this process's registry: %+v %v", got, ok)
	}
	if code, b = call(t, srv, "PATCH", "/api/v1/sites/paris", `{"loyal_orders":5,"affiliate_rates":{"blog":0.1}}`); code != 200 {
		t.Fatalf("update: %d %s", code, b)
	}
	decode(t, b, &s)
	if s.LoyalOrders != 5 || s.TimeZone != "Europe/Paris" || s.AffiliateRates["blog"] != 0.1 || s.Name != "Paris shop" {
		t.Errorf("updated %+v", s)
	}
	if code, b := call(t, srv, "PATCH", "/api/v1/sites/paris", `{"time_zone":"Mars/Base"}`); code != 400 || !strings.Contains(string(b), "time zone") {
		t.Errorf("update to a bad zone: %d %s", code, b)
	}
	if code, b := call(t, srv, "PATCH", "/api/v1/sites/paris", `{"id":"lyon"}`); code != 400 || !strings.Contains(string(b), "cannot change") {
		t.Errorf("update of the id: %d %s", code, b)
	}
	if code, _ := call(t, srv, "PATCH", "/api/v1/sites/nope", `{"loyal_orders":1}`); code != 404 {
		t.Errorf("update of an unknown site: %d", code)
	}
	if got, _ := reg.Get("paris"); got.LoyalOrders != 5 {
		t.Errorf("registry after the update: %+v", got)
	}

	code, b = call(t, srv, "POST", "/api/v1/sites/paris/keys", `{"name":"backend"}`)
	var k struct{ Key, ID, Name string }
	decode(t, b, &k)
	if code != 201 || !strings.HasPrefix(k.Key, "ffk_") || k.ID == "" || k.Name != "backend" {
		t.Fatalf("add key: %d %s", code, b)
	}
	if !reg.CheckKey("paris", k.Key) {
		t.Error("the new key does not work in this process")
	}
	// Shown once: no read gives the key back.
	for _, path := range []string{"/api/v1/sites", "/api/v1/sites/paris"} {
		if code, b := call(t, srv, "GET", path, ""); code != 200 || strings.Contains(string(b), k.Key) || !strings.Contains(string(b), k.ID) {
			t.Errorf("GET %s: %d %s", path, code, b)
		}
	}
	if code, _ := call(t, srv, "POST", "/api/v1/sites/nope/keys", ""); code != 404 {
		t.Errorf("key of an unknown site: %d", code)
	}
	if code, b := call(t, srv, "DELETE", "/api/v1/sites/paris/keys/"+k.ID, ""); code != 204 {
		t.Fatalf("revoke: %d %s", code, b)
	}
	if reg.CheckKey("paris", k.Key) {
		t.Error("a revoked key still works")
	}
	if code, _ := call(t, srv, "DELETE", "/api/v1/sites/paris/keys/"+k.ID, ""); code != 404 {
		t.Errorf("revoke twice: %d", code)
	}
	// No token, no sites.
	resp, err := http.Get(srv.URL + "/api/v1/sites")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 && resp.StatusCode != 403 {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
}

// TestLoyalRulePerSite: two sites with other thresholds classify the
// same orders differently, and a threshold changed through the API
// classifies by the new one.
func TestLoyalRulePerSite(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	stacktest.Site(t, store, "easy", func(s *sites.Site) { s.LoyalOrders, s.LoyalRevenue = 2, 0 })
	stacktest.Site(t, store, "strict", func(s *sites.Site) { s.LoyalOrders, s.LoyalRevenue = 5, 0 })
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var hits []stacktest.Hit
	for _, site := range []string{"easy", "strict"} {
		for i, order := range []string{"o1", "o2"} {
			hits = append(hits, stacktest.Hit{At: at.Add(time.Duration(i) * time.Hour), Revenue: 10_000_000,
				Fields: map[event.Field]string{event.Site: site, event.Type: "purchase", event.VisitorID: "buyer", event.OrderID: order, event.Currency: "EUR"}})
		}
	}
	stacktest.Insert(t, store, hits...)
	refresh(t, store)
	srv, _ := sitesServer(t, store)
	class := func(site string) string {
		t.Helper()
		code, b := call(t, srv, "GET", "/api/v1/profile?site="+site+"&visitor_id=buyer", "")
		if code != 200 {
			t.Fatalf("profile on %s: %d %s", site, code, b)
		}
		var p api.Profile
		decode(t, b, &p)
		return p.Class
	}
	if easy, strict := class("easy"), class("strict"); easy != profiles.ClassLoyal || strict != profiles.ClassCustomer {
		t.Errorf("two orders: %s on easy (2 make loyal), %s on strict (5)", easy, strict)
	}
	if code, b := call(t, srv, "PATCH", "/api/v1/sites/strict", `{"loyal_orders":2}`); code != 200 {
		t.Fatalf("update: %d %s", code, b)
	}
	if strict := class("strict"); strict != profiles.ClassLoyal {
		t.Errorf("after strict's threshold went to 2: %s", strict)
	}
}
