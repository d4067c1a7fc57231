package system

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"footfall/tests/stacktest"
)

// TestBrowserPages runs the snippet in headless Chromium through the real
// collector, Kafka, processor and ClickHouse (sdk-js/e2e/pages.mjs): a
// landing the site tidies is one view whether the tags were in a hash
// router's hash or the path lost its trailing slash; an SPA view whose
// title comes in steps is stored with the last; a Matomo campaign alone
// and an affiliate network's click id name their source.
func TestBrowserPages(t *testing.T) {
	store, _, ops, shop := browserShop(t)
	cmd := exec.Command("node", "e2e/pages.mjs", shop)
	cmd.Dir = "../../sdk-js"
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	var res struct{ HashTidied, SlashTidied, Steps, Matomo, Awin string }
	if err := json.Unmarshal(out, &res); err != nil || res.HashTidied == "" || res.SlashTidied == "" || res.Steps == "" || res.Matomo == "" || res.Awin == "" {
		t.Fatalf("pages.mjs printed %q: %v", out, err)
	}
	defer func() {
		if t.Failed() {
			logEvents(t, store)
			logRejections(t, ops)
		}
	}()
	// Views and engagements: 2 + 2 + 4 + 4 + 2 + 2.
	stacktest.WaitCount(t, store, 30*time.Second, 16, "SELECT count() FROM events WHERE site_id = 'shop'")
	of := func(id string) string { return "visitor_id = '" + id + "' AND " }
	page := "type = 'pageview' AND "
	expect := []struct {
		what string
		want uint64
	}{
		{of(res.HashTidied) + "type = 'pageview'", 1},
		{of(res.HashTidied) + page + "url = '" + shop + "/hash.html#/cart?utm_source=news'", 1},
		{of(res.HashTidied) + "type = 'engagement'", 1},

		{of(res.SlashTidied) + "type = 'pageview'", 1},
		{of(res.SlashTidied) + page + "url_path = '/spa.html/' AND utm_source = 'news' AND source = 'news' AND medium = 'email'", 1},
		{of(res.SlashTidied) + "type = 'engagement'", 1},

		{of(res.Steps) + "type = 'pageview'", 4},
		{of(res.Steps) + page + "url_path = '/shoes' AND title = 'Shoes'", 1},
		{of(res.Steps) + page + "url_path = '/hats' AND title = 'Hats'", 1},
		{of(res.Steps) + page + "url_path = '/clock' AND title LIKE 'Clock %'", 1},
		{of(res.Steps) + page + "title LIKE '%Loading%'", 0},

		{of(res.Matomo) + page + "utm_campaign = 'Spring' AND source = 'spring' AND medium = 'campaign'", 1},
		{of(res.Awin) + page + "source = 'awin' AND medium = 'affiliate' AND click_id = '1234_1700000000_abc'", 1},
		{of(res.Awin) + "type = 'engagement' AND click_id = '1234_1700000000_abc'", 1},
	}
	for _, e := range expect {
		if got := stacktest.Count(t, store, "SELECT count() FROM events WHERE site_id = 'shop' AND "+e.what); got != e.want {
			t.Errorf("%s: %d events, want %d", e.what, got, e.want)
		}
	}
	// The tidied landings are bounces: one page view in their session
	// (session_parts: a session's states per hour, merged).
	for _, id := range []string{res.HashTidied, res.SlashTidied} {
		bounce := "SELECT count() FROM (SELECT session_id, anyMerge(visitor_id) AS visitor, countIfMerge(pageviews) AS views " +
			"FROM session_parts WHERE site_id = 'shop' GROUP BY session_id) WHERE visitor = '" + id + "' AND views = 1"
		if got := stacktest.Count(t, store, bounce); got != 1 {
			t.Errorf("visitor %s: sessions with one page view: %d, want 1", id, got)
		}
	}
}
