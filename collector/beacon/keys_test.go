package beacon

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"footfall/internal/event"
)

// TestKeysThatNameNothingAreRefused: a key that is no field, no prop and no
// campaign parameter is refused with its name, on the pixel and on both
// JSON endpoints alike, and counted apart; nothing is accepted and dropped.
func TestKeysThatNameNothingAreRefused(t *testing.T) {
	const api = "Bearer shop-secret-key"
	cases := []struct {
		name string
		r    req
		err  string // a part of the reason
	}{
		{"pixel value=", req{method: "GET", uri: "/p.gif?site=shop&type=purchase&value=49.90&currency=EUR"}, `unknown key "value"`},
		{"pixel Value=", req{method: "GET", uri: "/p.gif?site=shop&Value=1"}, `unknown key "Value"`},
		{"pixel typo", req{method: "GET", uri: "/p.gif?site=shop&sorce=news"}, `unknown key "sorce"`},
		{"pixel key without value", req{method: "GET", uri: "/p.gif?site=shop&debug"}, `unknown key "debug"`},
		{"pixel cb=", req{method: "GET", uri: "/p.gif?site=shop&cb=1712345"}, `a cache buster's name starts with _`},
		{"pixel =x", req{method: "GET", uri: "/p.gif?site=shop&=x"}, "without a name"},
		{"pixel p.=v", req{method: "GET", uri: "/p.gif?site=shop&p.=v"}, "a prop key must be 1 to 64 bytes"},
		{"pixel p.", req{method: "GET", uri: "/p.gif?site=shop&p."}, "a prop key must be 1 to 64 bytes"},
		{"pixel ip", req{method: "GET", uri: "/p.gif?site=shop&ip=198.51.100.9"}, "ip is taken from the connection"},
		{"pixel user_agent", req{method: "GET", uri: "/p.gif?site=shop&user_agent=x"}, "user_agent is taken from the connection"},
		{"beacon value", req{method: "POST", uri: "/e", body: `{"site":"shop","type":"purchase","value":49.9}`}, `unknown key "value"`},
		{"beacon null value", req{method: "POST", uri: "/e", body: `{"site":"shop","type":"pageview","value":null}`}, `unknown key "value"`},
		{"beacon batch", req{method: "POST", uri: "/e", body: `[{"site":"shop","type":"pageview"},{"site":"shop","type":"pageview","price":1}]`}, `event 1: unknown key "price"`},
		{"beacon empty prop key", req{method: "POST", uri: "/e", body: `{"site":"shop","type":"pageview","props":{"":"v"}}`}, "a prop key must be 1 to 64 bytes"},
		{"beacon ip", req{method: "POST", uri: "/e", body: `{"site":"shop","type":"pageview","ip":"198.51.100.9"}`}, "ip is taken from the connection"},
		{"api value", req{method: "POST", uri: "/api/v1/events", auth: api, body: `{"type":"purchase","order_id":"A1","value":"49.90","currency":"EUR"}`}, `unknown key "value"`},
	}
	for _, c := range cases {
		q := &queue{}
		before := counterValue(t, rejected[endpointOf(c.r)][rsUnknownKey]) + counterValue(t, rejected[endpointOf(c.r)][rsInvalid])
		ctx := do(newHandler(q), c.r)
		if refusal(ctx) != 400 || !strings.Contains(errorOf(t, ctx), c.err) {
			t.Errorf("%s: %d %s, want 400 with %q", c.name, ctx.Response.StatusCode(), ctx.Response.Body(), c.err)
		}
		if len(q.got) != 0 {
			t.Errorf("%s: %d events queued", c.name, len(q.got))
		}
		wantReason := "invalid"
		if strings.Contains(c.err, "unknown key") || strings.Contains(c.err, "cache buster") {
			wantReason = "unknown_key"
		}
		if got := string(ctx.Response.Header.Peek("X-Footfall-Rejected")); got != wantReason {
			t.Errorf("%s: counted as %q, want %q", c.name, got, wantReason)
		}
		after := counterValue(t, rejected[endpointOf(c.r)][rsUnknownKey]) + counterValue(t, rejected[endpointOf(c.r)][rsInvalid])
		if after != before+1 {
			t.Errorf("%s: rejections counted %v times", c.name, after-before)
		}
	}
}

func endpointOf(r req) endpoint {
	switch {
	case strings.HasPrefix(r.uri, "/p"):
		return epPixel
	case r.uri == "/e":
		return epBeacon
	}
	return epAPI
}

// TestKeysTheSendersUse: every key the snippet sends (its fields, and the
// landing's campaign parameters it carries for the session under their own
// names), a landing's campaign parameters given to the pixel, a cache
// buster, and the server API's ip and user_agent are taken; campaign
// parameters with a field of their own fill it unless the hit sets it.
func TestKeysTheSendersUse(t *testing.T) {
	q := &queue{}
	h := newHandler(q)
	snippet := `{"site":"shop","type":"pageview","url":"https://shop.example/?ref=x&mc_cid=c","session_id":"s1","visitor_id":"v1",
		"referrer":"https://www.google.com/","title":"Home","name":null,"user_id":"u1","order_id":null,"revenue":null,"currency":null,
		"utm_source":"news","utm_medium":"email","utm_campaign":"c","utm_term":"t","utm_content":"k","utm_id":"42","affiliate":"julie",
		"click_id":"G1","ref":"x","ff_rt":"tok","mc_cid":"c","mc_eid":"e","_kx":"k","_hsenc":"h","hsa_net":"adwords","mtm_cid":"m",
		"pk_vid":"p","gad_source":"1","gclsrc":"aw.ds","props":{"seconds":3}}`
	if c := do(h, req{method: "POST", uri: "/e", body: snippet}); c.Response.StatusCode() != 202 {
		t.Fatalf("the snippet's keys: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	pixel := "/p.gif?site=shop&UTM_SOURCE=News&Utm_Medium=Email&aff=julie&gclid=G2&ref=x&mc_cid=c&utm_id=1&mtm_campaign=spring&_=123&__=4"
	if c := do(h, req{method: "GET", uri: pixel}); c.Response.StatusCode() != 200 {
		t.Fatalf("a pixel with a landing's parameters: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	// The field itself wins over a campaign parameter, before or after it.
	for _, uri := range []string{"/p.gif?site=shop&click_id=A&gclid=B&affiliate=P&aff=Q", "/p.gif?site=shop&gclid=B&click_id=A&aff=Q&affiliate=P"} {
		if c := do(h, req{method: "GET", uri: uri}); c.Response.StatusCode() != 200 {
			t.Fatalf("%s: %d %s", uri, c.Response.StatusCode(), c.Response.Body())
		}
	}
	api := `{"type":"purchase","order_id":"A1","revenue":"10","currency":"EUR","ip":"198.51.100.9","user_agent":"Shop/1.0","UTM_Source":"crm"}`
	if c := do(h, req{method: "POST", uri: "/api/v1/events", auth: "Bearer shop-secret-key", body: api}); c.Response.StatusCode() != 202 {
		t.Fatalf("server API: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	if len(q.got) != 5 {
		t.Fatalf("%d events", len(q.got))
	}
	want := []map[event.Field]string{
		{event.UTMSource: "news", event.Affiliate: "julie", event.ClickID: "G1", event.UserID: "u1"},
		{event.UTMSource: "News", event.UTMMedium: "Email", event.UTMCampaign: "spring", event.Affiliate: "julie", event.ClickID: "G2"},
		{event.ClickID: "A", event.Affiliate: "P"},
		{event.ClickID: "A", event.Affiliate: "P"},
		{event.IP: "198.51.100.0", event.UserAgent: "Shop/1.0", event.UTMSource: "crm"},
	}
	for i, fields := range want {
		for f, v := range fields {
			if got := q.got[i].Get(f); got != v {
				t.Errorf("event %d: %s = %q, want %q", i, event.Specs[f].Key, got, v)
			}
		}
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
