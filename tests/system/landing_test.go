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
