package system

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"footfall/collector/app"
	"footfall/dashboards/api"
	"footfall/internal/profiles"
	"footfall/internal/sites"
	"footfall/tests/stacktest"
)

// TestSiteChangesReachTheCollector: the dashboards' API and a collector,
// each with its own copy of the registry as in production (the collector
// reading it every 3 s): a site made, a key added and one revoked, and
// domains set in the dashboards are the collector's within seconds, with
// no restart. A hit for a site that does not exist is refused and counted.
func TestSiteChangesReachTheCollector(t *testing.T) {
	s := newStack(t, 1)
	col, base := s.startCollector(t, func(c *app.Config) { c.SitesReload = sites.DefaultReload })
	reader := stacktest.Reader(t, s.store)
	reg := sites.NewRegistry(sites.NewStore(reader))
	if err := reg.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(reader, s.store, api.Config{Token: "tok", Rules: profiles.DefaultRules, Sites: reg}).Register(mux)
	dash := httptest.NewServer(mux)
	defer dash.Close()
	call := func(method, path, body string) string {
		t.Helper()
		code, _, resp := request(t, method, dash.URL+path, body, "Authorization", "Bearer tok")
		if code/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, code, resp)
		}
		return resp
	}
	newKey := func() string {
		t.Helper()
		var k struct{ Key, ID string }
		if err := json.Unmarshal([]byte(call("POST", "/api/v1/sites/paris/keys", `{"name":"backend"}`)), &k); err != nil {
			t.Fatal(err)
		}
		return k.Key + " " + k.ID
	}
	order := `{"type":"purchase","visitor_id":"v1","order_id":"A-1","revenue":"10","currency":"EUR"}`
	api := func(key string) int {
		code, _, _ := request(t, "POST", base+"/api/v1/events", order, "Authorization", "Bearer "+key)
		return code
	}
	// within waits until ok holds, failing after 6 s (two reloads): how
	// long it took is the time a change takes to reach the collector.
	within := func(what string, ok func() bool) {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > 6*time.Second {
				t.Fatalf("%s: not in force after %s", what, time.Since(start).Round(time.Millisecond))
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("%s: in force after %s", what, time.Since(start).Round(100*time.Millisecond))
	}

	pixel := func(site, page, origin string) (int, string) {
		code, h, _ := request(t, "GET", base+"/p.gif?site="+site+"&visitor_id=v&url="+page, "", "Origin", origin)
		return code, h.Get("X-Footfall-Rejected")
	}
	if code, why := pixel("paris", "https%3A%2F%2Fshop.example%2F", ""); code != 200 || why != "unknown_site" {
		t.Fatalf("a hit for a site not made yet: %d %q", code, why)
	}
	call("POST", "/api/v1/sites", `{"id":"paris","time_zone":"Europe/Paris","currency":"EUR"}`)
	within("a new site", func() bool { _, why := pixel("paris", "https%3A%2F%2Fshop.example%2F", ""); return why == "" })

	// Rotation: a new key works within seconds; once revoked, the old one
	// is refused within seconds while the new one goes on.
	k1, id1, _ := strings.Cut(newKey(), " ")
	within("a new key", func() bool { return api(k1) == 202 })
	k2, _, _ := strings.Cut(newKey(), " ")
	call("DELETE", "/api/v1/sites/paris/keys/"+id1, "")
	within("a revoked key", func() bool { return api(k1) == 401 })
	if code := api(k2); code != 202 {
		t.Errorf("the new key after the old one was revoked: %d", code)
	}

	// Domains set in the dashboards: a page elsewhere is refused.
	call("PATCH", "/api/v1/sites/paris", `{"domains":["shop.example"]}`)
	within("the site's domains", func() bool {
		_, why := pixel("paris", "https%3A%2F%2Fevil.example%2F", "")
		return why == "foreign_domain"
	})
	if code, why := pixel("paris", "https%3A%2F%2Fwww.shop.example%2Fp", "https://www.shop.example"); code != 200 || why != "" {
		t.Errorf("a page on the site's domain: %d %q", code, why)
	}
	code, _, resp := request(t, "POST", base+"/e", `{"site":"paris","type":"pageview","url":"https://shop.example/"}`, "Origin", "https://evil.example")
	if code != 400 || !strings.Contains(resp, "foreign domain") {
		t.Errorf("a beacon from another origin: %d %s", code, resp)
	}

	_, _, metrics := request(t, "GET", "http://"+col.OpsAddr()+"/metrics", "")
	for _, want := range []string{`collector_requests_rejected_total{endpoint="pixel",reason="unknown_site"}`, `collector_requests_rejected_total{endpoint="pixel",reason="foreign_domain"}`,
		`collector_requests_rejected_total{endpoint="beacon",reason="foreign_domain"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
}
