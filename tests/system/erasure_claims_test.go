package system

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// TestErasureFollowsNoClaim: what a browser claims (an address, an order
// id) from a browser that is no proven device leads to no one else in the
// access export or the erasure. Eve's browser claims her own address,
// Vic's and Wendy's order id: Eve's export holds nothing of theirs, her
// erasure leaves their proven orders and writes no tombstone that would
// drop Vic's next order; Vic's export holds nothing of Eve's address; and
// a person known only by a claim (a browser's subscribe) is still found
// and erased by that address.
// (A reviewer found Eve's export listing both, and her erasure deleting
// both orders and barring Vic for good.)
func TestErasureFollowsNoClaim(t *testing.T) {
	const erasureSecret = "erasure-tombstone-secret-0123"
	s := newStack(t, 2)
	s.startProcessor(t, "-flush-interval", "100ms", "-segments-interval", "0", "-refresh-interval", "500ms", "-erasure-secret", erasureSecret)
	shopKey := s.site(t, "shop")
	_, base := s.startCollector(t, nil)
	mux := http.NewServeMux()
	srv := api.New(stacktest.Reader(t, s.store), s.store, api.Config{Token: "tok", Rules: profiles.DefaultRules, CollectorURL: base})
	srv.SetErasureSecret(erasureSecret)
	srv.Register(mux)
	dash := httptest.NewServer(mux)
	defer dash.Close()
	server := []string{"Authorization", "Bearer " + shopKey}
	hit := func(method, path, body string, header ...string) {
		t.Helper()
		if code, resp := send(t, method, base+path, body, header...); code != 200 && code != 202 {
			t.Fatalf("%s %s: %d %s", method, path, code, resp)
		}
	}
	hit("POST", "/api/v1/events", `{"type":"purchase","user_id":"vic@mail.example","order_id":"1001","revenue":"50","currency":"EUR"}`, server...)
	hit("POST", "/api/v1/events", `{"type":"purchase","user_id":"wendy@mail.example","order_id":"1002","revenue":"70","currency":"EUR"}`, server...)
	const eve = `"site":"shop","visitor_id":"eve-browser","session_id":"eve-session"`
	hit("POST", "/e", `[{`+eve+`,"type":"identify","user_id":"eve@evil.example"},{`+eve+`,"type":"identify","user_id":"VIC@mail.example"},`+
		`{`+eve+`,"type":"purchase","order_id":"1002","revenue":"1","currency":"EUR"},{`+eve+`,"type":"pageview","url":"https://shop.example/eve-page"}]`,
		"Content-Type", "text/plain")
	// Zoe subscribed through the snippet only: a claim, no proven event.
	const zoe = `"site":"shop","visitor_id":"zoe-browser","session_id":"zoe-session"`
	hit("POST", "/e", `[{`+zoe+`,"type":"pageview","url":"https://shop.example/zoe-page"},{`+zoe+`,"type":"subscribe","user_id":"zoe@mail.example"}]`,
		"Content-Type", "text/plain")
	stacktest.WaitCount(t, s.store, 30*time.Second, 8, "SELECT count() FROM events")

	// The person goes in the body, never the URL (access logs).
	dashCall := func(method, path, email string) (int, string) {
		return send(t, method, dash.URL+path, `{"site":"shop","email":"`+email+`"}`, "Authorization", "Bearer tok")
	}
	code, resp := dashCall("POST", "/api/v1/profile/export", "eve@evil.example")
	if code != 200 || strings.Contains(resp, "vic@mail.example") || strings.Contains(resp, "wendy@mail.example") || strings.Contains(resp, `"1001"`) {
		t.Errorf("Eve's export (%d) holds Vic's or Wendy's data:\n%.2000s", code, resp)
	}
	// Vic's export holds his order, and what Eve's browser claimed to be
	// him, but nothing of Eve's own address nor Wendy's.
	code, resp = dashCall("POST", "/api/v1/profile/export", "vic@mail.example")
	if code != 200 || !strings.Contains(resp, `"1001"`) || strings.Contains(resp, "eve@evil.example") || strings.Contains(resp, "wendy@mail.example") {
		t.Errorf("Vic's export (%d) holds Eve's address or Wendy's, or lacks his order:\n%.2000s", code, resp)
	}

	if code, resp = dashCall("DELETE", "/api/v1/profile", "eve@evil.example"); code != 200 {
		t.Fatalf("erase Eve: %d %s", code, resp)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events WHERE order_id IN ('1001', '1002') AND user_id != ''"); n != 2 {
		t.Errorf("after erasing Eve, %d of Vic's and Wendy's 2 proven orders are left", n)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events WHERE visitor_id = 'eve-browser'"); n != 0 {
		t.Errorf("%d events of Eve's browser left after her erasure", n)
	}
	hit("POST", "/api/v1/events", `{"type":"purchase","user_id":"vic@mail.example","order_id":"1003","revenue":"50","currency":"EUR"}`, server...)
	stacktest.WaitCount(t, s.store, 30*time.Second, 1, "SELECT count() FROM events WHERE order_id = '1003'")

	// A person known by a claim only is found by it, and erased whole.
	if code, resp = dashCall("DELETE", "/api/v1/profile", "zoe@mail.example"); code != 200 {
		t.Fatalf("erase Zoe: %d %s", code, resp)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events WHERE visitor_id = 'zoe-browser' OR user_id = 'zoe@mail.example'"); n != 0 {
		t.Errorf("%d events of Zoe left after her erasure", n)
	}
}
