package system

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/collector/app"
	"footfall/dashboards/api"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// erasureStack starts a processor with tombstones, a collector and the
// dashboards' API, for the tests below.
func erasureStack(t *testing.T) (s *stack, ops, base, shopKey string, call func(method, path, body string) (int, string)) {
	const erasureSecret = "erasure-tombstone-secret-0123"
	s = newStack(t, 1)
	ops = freeAddr(t)
	s.startProcessor(t, "-flush-interval", "100ms", "-segments-interval", "0", "-refresh-interval", "500ms",
		"-processor-ops-listen", ops, "-erasure-secret", erasureSecret)
	shopKey = s.site(t, "shop")
	_, base = s.startCollector(t, func(c *app.Config) { c.LinkSecret = "erasure-link-secret-0123" })
	mux := http.NewServeMux()
	srv := api.New(stacktest.Reader(t, s.store), s.store, api.Config{Token: "tok", Rules: profiles.DefaultRules, CollectorURL: base})
	srv.SetErasureSecret(erasureSecret)
	srv.Register(mux)
	dash := httptest.NewServer(mux)
	t.Cleanup(dash.Close)
	call = func(method, path, body string) (int, string) {
		t.Helper()
		return send(t, method, dash.URL+path, body, "Authorization", "Bearer tok")
	}
	return s, ops, base, shopKey, call
}

// TestErasureKnownElsewhere: a person whose only rows are kept Kafka
// messages (events_rejected) or a manual record (profile_overrides) is
// exported and erased like any other, and a manual record for an erased
// address, in any spelling, is refused (410) instead of recreating her.
func TestErasureKnownElsewhere(t *testing.T) {
	s, _, base, _, call := erasureStack(t)
	// Bob, a browser, stays throughout.
	if code, resp := send(t, "POST", base+"/e", `[{"site":"shop","visitor_id":"bob-b1","type":"pageview","url":"https://shop.example/"}]`,
		"Content-Type", "text/plain"); code != 200 && code != 202 {
		t.Fatalf("beacon: %d %s", code, resp)
	}
	stacktest.WaitCount(t, s.store, 60*time.Second, 1, "SELECT count() FROM events")
	// Dora: only messages a misconfigured producer wrote (JSON text), one
	// spelling her address with a JSON escape and in capitals.
	stacktest.Produce(t, s.brokers, s.topic, nil,
		kafka.Message{Value: []byte(`{"site":"shop","type":"purchase","user_id":"dora@example.com","order_id":"D-1"}`)},
		kafka.Message{Value: []byte(`{"site":"shop","type":"purchase","user_id":"DORA\u0040EXAMPLE.COM","order_id":"D-2"}`)},
		kafka.Message{Value: []byte(`{"site":"shop","type":"purchase","user_id":"bob@example.com","order_id":"B-1"}`)})
	waitFor(t, 60*time.Second, "kept messages", func() bool {
		return stacktest.Count(t, s.store, "SELECT count() FROM events_rejected") >= 3
	})
	code, resp := call("POST", "/api/v1/profile/export", `{"site":"shop","email":"Dora@Example.com"}`)
	if code != 200 || !strings.Contains(resp, `"events_rejected":2`) {
		t.Fatalf("export of a person known only by kept messages: %d %.400s", code, resp)
	}
	code, resp = call("DELETE", "/api/v1/profile", `{"site":"shop","email":"dora@example.com"}`)
	if code != 200 {
		t.Fatalf("erasure of a person known only by kept messages: %d %.400s", code, resp)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events_rejected WHERE positionCaseInsensitive(payload, 'dora') > 0"); n != 0 {
		t.Errorf("kept messages naming Dora after her erasure: %d", n)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events_rejected"); n != 1 {
		t.Errorf("kept messages after Dora's erasure: %d, want Bob's 1", n)
	}

	// Erin: a manual record only.
	if code, resp = call("POST", "/api/v1/profile/manual?site=shop&email=erin@example.com", `{"class":"VIP"}`); code != 201 {
		t.Fatalf("manual record: %d %s", code, resp)
	}
	code, resp = call("POST", "/api/v1/profile/export", `{"site":"shop","email":"erin@example.com"}`)
	if code != 200 || !strings.Contains(resp, `"profile_overrides":1`) {
		t.Fatalf("export of a person known only by a manual record: %d %.400s", code, resp)
	}
	if code, resp = call("DELETE", "/api/v1/profile", `{"site":"shop","email":"erin@example.com"}`); code != 200 {
		t.Fatalf("erasure of a person known only by a manual record: %d %.400s", code, resp)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM profile_overrides"); n != 0 {
		t.Errorf("manual records after Erin's erasure: %d", n)
	}
	// A manual record for an erased address, in any spelling, is refused.
	for _, who := range []string{"erin@example.com", "ERIN@example.com.", "%EF%BD%85rin@example.com", "dora@example.com"} {
		code, resp = call("POST", "/api/v1/profile/manual?site=shop&email="+who, `{"populations":["pro"]}`)
		if code != http.StatusGone || !strings.Contains(resp, "erased") {
			t.Errorf("manual record for erased %s: %d %s, want 410", who, code, resp)
		}
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM profile_overrides"); n != 0 {
		t.Errorf("manual records after the refused ones: %d", n)
	}
	// Somebody never seen still gets one.
	if code, resp = call("POST", "/api/v1/profile/manual?site=shop&email=fred@example.com", `{"class":"VIP"}`); code != 201 {
		t.Errorf("manual record for a new person: %d %s", code, resp)
	}
	if code, _ = call("POST", "/api/v1/profile/export", `{"site":"shop","email":"nobody@example.com"}`); code != 404 {
		t.Errorf("export of nobody: %d, want 404", code)
	}
}

// TestErasureLaterIdentifiers: an order whose visitor id is the person's
// address (in other capitals) is erased with them; after the erasure, events that name the
// person only by an order id (a refund), a session id (a new browser with
// the old session), another spelling of the address (full-width,
// decomposed, punycode, capitals, a trailing dot) as user id or as
// visitor id are dropped and counted; another person's are stored.
func TestErasureLaterIdentifiers(t *testing.T) {
	s, ops, base, shopKey, call := erasureStack(t)
	server := []string{"Authorization", "Bearer " + shopKey}
	hit := func(path, body string, header ...string) {
		t.Helper()
		if code, resp := send(t, "POST", base+path, body, header...); code != 200 && code != 202 {
			t.Fatalf("%s: %d %s", path, code, resp)
		}
	}
	api1 := func(body string) { hit("/api/v1/events", body, server...) }
	beacon := func(body string) { hit("/e", body, "Content-Type", "text/plain") }
	beacon(`[{"site":"shop","visitor_id":"ann-b1","session_id":"ann-s1","type":"pageview","url":"https://shop.example/"},` +
		`{"site":"shop","visitor_id":"ann-b1","session_id":"ann-s1","type":"identify","user_id":"josé@café.example"}]`)
	api1(`{"type":"purchase","user_id":"josé@café.example","visitor_id":"ann-b1","order_id":"ANN-ORDER-77","revenue":"50","currency":"EUR"}`)
	// Cat, of a backend that also sends her address as the visitor id.
	api1(`{"type":"purchase","user_id":"cat@shop.example","visitor_id":"cat-b1","order_id":"CAT-1","revenue":"5","currency":"EUR"}`)
	api1(`{"type":"purchase","visitor_id":"Cat@Shop.example","order_id":"CAT-2","revenue":"5","currency":"EUR"}`)
	api1(`{"type":"purchase","user_id":"bob@example.com","visitor_id":"bob-b1","order_id":"BOB-1","revenue":"5","currency":"EUR"}`)
	stacktest.WaitCount(t, s.store, 60*time.Second, 6, "SELECT count() FROM events")
	code, resp := call("DELETE", "/api/v1/profile", `{"site":"shop","email":"José@Café.example"}`)
	if code != 200 || !strings.Contains(resp, "ANN-ORDER-77") || !strings.Contains(resp, "ann-s1") {
		t.Fatalf("erase: %d %s", code, resp)
	}
	code, resp = call("DELETE", "/api/v1/profile", `{"site":"shop","email":"cat@shop.example"}`)
	if code != 200 || !strings.Contains(resp, "CAT-2") || !strings.Contains(resp, "Cat@Shop.example") {
		t.Fatalf("erase Cat: %d %s", code, resp)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events"); n != 1 {
		t.Fatalf("events after the erasure: %d, want Bob's 1", n)
	}
	before := opsMetric(t, ops, "processor_events_erased_dropped_total")
	api1(`{"type":"refund","order_id":"ANN-ORDER-77","revenue":"-50","currency":"EUR"}`)
	beacon(`[{"site":"shop","visitor_id":"new-b9","session_id":"ann-s1","type":"pageview","url":"https://shop.example/x"}]`)
	spellings := []string{"JOSÉ@XN--CAF-DMA.EXAMPLE", "ｊｏｓé@café.example", "jose\u0301@cafe\u0301.example",
		"josé@café.example.", "ＪＯＳÉ＠ＣＡＦÉ．ＥＸＡＭＰＬＥ", "josé@café。example"}
	for _, u := range spellings {
		api1(`{"type":"purchase","user_id":"` + u + `","order_id":"X-` + u + `","revenue":"1","currency":"EUR"}`)
	}
	api1(`{"type":"purchase","visitor_id":"CAT@SHOP.EXAMPLE.","order_id":"X-visitor","revenue":"1","currency":"EUR"}`)
	// Bob's later events, sent last, are stored: then Ann's were seen.
	api1(`{"type":"refund","order_id":"BOB-1","revenue":"-5","currency":"EUR"}`)
	beacon(`[{"site":"shop","visitor_id":"bob-b2","session_id":"bob-s2","type":"pageview","url":"https://shop.example/y"}]`)
	stacktest.WaitCount(t, s.store, 60*time.Second, 3, "SELECT count() FROM events")
	want := float64(3 + len(spellings))
	waitFor(t, 30*time.Second, "the late events counted as dropped", func() bool {
		return opsMetric(t, ops, "processor_events_erased_dropped_total")-before >= want
	})
	time.Sleep(time.Second)
	for _, r := range rows(t, s, "SELECT concat(visitor_id, ' ', session_id, ' ', user_id), order_id FROM events ORDER BY time") {
		if !strings.Contains(r, "bob") && !strings.Contains(r, "BOB") {
			t.Errorf("stored after the erasure: %s", r)
		}
	}
	if got := opsMetric(t, ops, "processor_events_erased_dropped_total") - before; got != want {
		t.Errorf("erased drops: %v, want %v", got, want)
	}
}

// TestRecreditNamesNoOrder: the mutation that gives a server-side order's
// earlier copy the credit of its later copy in a session names the orders
// by hash, not by id, in system.mutations; the copy is still credited.
func TestRecreditNamesNoOrder(t *testing.T) {
	s, _, base, shopKey, _ := erasureStack(t)
	post := func(path, body string, h ...string) {
		t.Helper()
		if code, resp := send(t, "POST", base+path, body, h...); code != 200 && code != 202 {
			t.Fatalf("%d %s", code, resp)
		}
	}
	post("/api/v1/events", `{"type":"purchase","user_id":"gina@example.com","order_id":"GINA-ORDER-9","revenue":"20","currency":"EUR"}`,
		"Authorization", "Bearer "+shopKey)
	stacktest.WaitCount(t, s.store, 60*time.Second, 1, "SELECT count() FROM events")
	post("/e", `[{"site":"shop","visitor_id":"gina-b1","session_id":"gina-s1","type":"pageview","url":"https://shop.example/?utm_source=gina-news&utm_medium=email"},`+
		`{"site":"shop","visitor_id":"gina-b1","session_id":"gina-s1","type":"purchase","order_id":"GINA-ORDER-9","revenue":"20","currency":"EUR"}]`,
		"Content-Type", "text/plain")
	waitFor(t, 60*time.Second, "the server's copy credited to the newsletter", func() bool {
		return stacktest.Count(t, s.store, "SELECT count() FROM events WHERE order_id = 'GINA-ORDER-9' AND session_id = '' AND visit_source = 'gina-news'") == 1
	})
	if n := stacktest.Count(t, s.store, "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND position(command, 'visit_source') > 0"); n == 0 {
		t.Fatal("no re-credit mutation: the test proves nothing")
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND position(command, 'GINA-ORDER-9') > 0"); n != 0 {
		t.Errorf("%d mutations name the order id", n)
	}
}
