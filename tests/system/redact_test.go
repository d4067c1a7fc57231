package system

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"footfall/tests/stacktest"
)

// TestAddressesNotStored: a browser never linked to anyone sends its
// address inside other fields, as sites and mail clients do (a page URL
// ?email=ann%40hidden.example, a referrer with it escaped twice, a path,
// a title, a property spelled with a JSON escape, a server API event with
// a full-width at sign), through the collector, Kafka and the processor:
// no table stores the address (an erasure of that person, who has no
// user id, could never find it), each place holds [email] instead, the
// processor counts what it replaced, and an address given as the user id
// is kept there, where the erasure finds it.
func TestAddressesNotStored(t *testing.T) {
	s := newStack(t, 1)
	key := s.site(t, "shop")
	ops := freeAddr(t)
	s.startProcessor(t, "-flush-interval", "100ms", "-processor-ops-listen", ops)
	_, base := s.startCollector(t, nil)

	q := url.Values{"site": {"shop"}, "visitor_id": {"anon-1"}, "session_id": {"s-anon-1"},
		"url":      {"https://shop.example/welcome?email=ann%40hidden.example&utm_source=news"},
		"referrer": {"https://webmail.example/read?to=ann%2540hidden.example"},
		"title":    {"Welcome back, ann@hidden.example"}}
	if code, body := send(t, "GET", base+"/p.gif?"+q.Encode(), "", "User-Agent", chrome); code != 200 {
		t.Fatalf("pixel: %d %s", code, body)
	}
	beacon := `{"site":"shop","type":"sign_up","visitor_id":"anon-2","user_id":"bob@kept.example",
		"url":"https://shop.example/u/ann.b@hidden.example/settings#ann.c@hidden.example",
		"props":{"contact":"ann.d\u0040hidden.example","note":"plain"}}`
	if code, body := send(t, "POST", base+"/e", beacon, "Content-Type", "text/plain", "User-Agent", chrome); code != 202 {
		t.Fatalf("beacon: %d %s", code, body)
	}
	order := `{"type":"purchase","order_id":"R-1","revenue":"5","currency":"EUR","visitor_id":"anon-3",
		"url":"https://shop.example/thanks?mail=ann.e＠hidden.example"}`
	if code, body := send(t, "POST", base+"/api/v1/events", order, "Authorization", "Bearer "+key); code != 202 {
		t.Fatalf("order: %d %s", code, body)
	}
	stacktest.WaitCount(t, s.store, 60*time.Second, 3, "SELECT count() FROM events")

	if left := traces(t, s, []string{"hidden.example", "hidden%2e", "ann%40", "ann%2540"}); len(left) > 0 {
		t.Errorf("the address is stored in %v", left)
	}
	got := strings.Join(rows(t, s, `SELECT visitor_id, concat(url, ' | ', referrer, ' | ', title, ' | ', arrayStringConcat(prop_values, ','), ' | ', user_id)
FROM events ORDER BY visitor_id`), "\n")
	want := strings.Join([]string{
		"anon-1 https://shop.example/welcome?email=[email]&utm_source=news | https://webmail.example/read?to=[email] | Welcome back, [email] |  | ",
		"anon-2 https://shop.example/u/[email]/settings#[email] |  |  | [email],plain | bob@kept.example",
		"anon-3 https://shop.example/thanks?mail=[email] |  |  |  | ",
	}, "\n")
	if got != want {
		t.Errorf("stored:\n%s\nwant:\n%s", got, want)
	}
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events WHERE visitor_id = 'anon-1' AND source = 'news' OR visitor_id = 'anon-2' AND url_path = '/u/[email]/settings'"); n != 2 {
		t.Errorf("%d of 2 events have their campaign tag and path read from the cleaned URL", n)
	}
	sum := 0.0
	for _, f := range []string{"url", "referrer", "props", "text"} {
		sum += opsMetric(t, ops, `processor_email_addresses_redacted_total{field="`+f+`"}`)
	}
	if sum < 6 {
		t.Errorf("processor_email_addresses_redacted_total counts %v addresses, want 6 at least", sum)
	}
}
