package system

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"footfall/tests/stacktest"
)

// TestBrowserAdLanding: a real phone named CUBOT, in Chromium, lands from
// a Google Ads click (gbraid) and moves to /café/crème. Through the
// collector, Kafka, the processor and ClickHouse: the phone is counted (not
// a bot), the landing is google / cpc with its click id, the click id stays
// with the session's later page view, and the browser's percent-encoded
// path is stored readable.
func TestBrowserAdLanding(t *testing.T) {
	store, _, ops, shop := browserShop(t)
	cmd := exec.Command("node", "e2e/landing.mjs", shop)
	cmd.Dir = "../../sdk-js"
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	var res struct{ Visitor string }
	if err := json.Unmarshal(out, &res); err != nil || res.Visitor == "" {
		t.Fatalf("landing.mjs printed %q: %v", out, err)
	}
	defer func() {
		if t.Failed() {
			logEvents(t, store)
			logRejections(t, ops)
		}
	}()
	v := "site_id = 'shop' AND visitor_id = '" + res.Visitor + "' AND "
	stacktest.WaitCount(t, store, 30*time.Second, 2, "SELECT count() FROM events WHERE "+v+"type = 'pageview'")
	for _, e := range []string{
		v + "type = 'pageview' AND url_path = '/spa.html' AND source = 'google' AND medium = 'cpc' AND click_id = '0AAAAAo-test' AND is_bot = 0 AND device = 'mobile'",
		v + "type = 'pageview' AND url_path = '/café/crème' AND click_id = '0AAAAAo-test' AND is_bot = 0",
	} {
		if got := stacktest.Count(t, store, "SELECT count() FROM events WHERE "+e); got != 1 {
			t.Errorf("%s: %d events, want 1", e, got)
		}
	}
}

// TestBrowserCampaigns: one visitor in Chromium lands five times, from a
// Taboola ad with an affiliate_id and a Utm_Campaign in capitals, a Reddit
// ad, a ref= link, a link with Matomo's tags and an Impact partner's link
// (irclickid before srsltid). Each landing starts a session whose tags and
// click id stay with its later page views (the snippet sends the landing's
// parameters, the collector reads them as the processor does), none
// carried into the next; the processor names each source.
func TestBrowserCampaigns(t *testing.T) {
	store, _, ops, shop := browserShop(t)
	cmd := exec.Command("node", "e2e/campaigns.mjs", shop)
	cmd.Dir = "../../sdk-js"
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	var res struct{ Visitor string }
	if err := json.Unmarshal(out, &res); err != nil || res.Visitor == "" {
		t.Fatalf("campaigns.mjs printed %q: %v", out, err)
	}
	defer func() {
		if t.Failed() {
			logEvents(t, store)
			logRejections(t, ops)
		}
	}()
	v := "site_id = 'shop' AND visitor_id = '" + res.Visitor + "' AND type = 'pageview' AND "
	stacktest.WaitCount(t, store, 30*time.Second, 8, "SELECT count() FROM events WHERE "+v+"1")
	for _, e := range []struct {
		what string
		want uint64
	}{
		{"url_path = '/spa.html' AND source = 'taboola' AND medium = 'cpc' AND click_id = 'T-1' AND affiliate = 'julie' AND utm_campaign = 'spring'", 1},
		{"url_path = '/about' AND click_id = 'T-1' AND affiliate = 'julie' AND utm_campaign = 'spring'", 1},
		{"source = 'reddit' AND medium = 'cpc' AND click_id = 'R-2' AND affiliate = '' AND utm_campaign = ''", 1},
		{"source = 'producthunt' AND medium = 'referral' AND click_id = '' AND affiliate = ''", 1},
		{"url_path = '/spa.html' AND source = 'matomo' AND utm_source = 'matomo' AND utm_campaign = 'launch' AND click_id = ''", 1},
		{"url_path = '/about' AND utm_source = 'matomo' AND utm_campaign = 'launch' AND affiliate = ''", 1},
		{"source = 'impact' AND medium = 'affiliate' AND click_id = 'I-3'", 1},
		{"url = '" + shop + "/spa.html' AND click_id = 'I-3'", 1}, // the visit goes on with its id
	} {
		if got := stacktest.Count(t, store, "SELECT count() FROM events WHERE "+v+e.what); got != e.want {
			t.Errorf("%s: %d page views, want %d", e.what, got, e.want)
		}
	}
	sessions := "SELECT uniqExact(session_id) FROM events WHERE " + v + "1"
	if got := stacktest.Count(t, store, sessions); got != 5 {
		t.Errorf("%d sessions, want 5 (one per campaign)", got)
	}
	sameVisit := "SELECT uniqExact(session_id) FROM events WHERE " + v + "click_id = 'I-3'"
	if got := stacktest.Count(t, store, sameVisit); got != 1 {
		t.Errorf("the landing with I-3 and the page after it are in %d sessions, want 1", got)
	}
}
