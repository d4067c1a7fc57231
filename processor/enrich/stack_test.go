package enrich_test

import (
	"context"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/internal/reports"
	"footfall/tests/stacktest"
)

// TestRealWorldTrafficStored sends one input of each kind through the
// processor's enrichment and insert into ClickHouse, and reads back what
// the reports see: the site's own domains, app referrers, click ids,
// percent-encoded paths and bot-like phone names.
func TestRealWorldTrafficStored(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	hit := func(visitor, url, ref string) stacktest.Hit {
		return stacktest.Hit{At: at, Fields: map[event.Field]string{
			event.Site: "shop", event.Type: "pageview", event.VisitorID: visitor, event.SessionID: "s-" + visitor,
			event.URL: url, event.Referrer: ref,
		}}
	}
	cubot := hit("cubot", "https://shop.example/", "")
	cubot.Fields[event.UserAgent] = "Mozilla/5.0 (Linux; Android 13; CUBOT P80) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36"
	googlebot := hit("googlebot", "https://shop.example/caf%C3%A9/cr%C3%A8me", "")
	googlebot.Fields[event.UserAgent] = "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	stacktest.Insert(t, store,
		hit("own", "https://shop.example/p", "https://www.shop.example/c"),
		hit("app", "https://shop.example/p", "android-app://com.google.android.googlequicksearchbox/"),
		hit("gmail", "https://shop.example/p", "android-app://com.google.android.gm/"),
		hit("ad", "https://shop.example/?gbraid=0AAAAAo-test", ""),
		hit("encoded", "https://shop.example/caf%C3%A9/cr%C3%A8me", "https://blog.example/caf%C3%A9"),
		hit("typed", "https://shop.example/café/crème", ""),
		cubot, googlebot,
	)
	for _, c := range []struct{ visitor, source, medium, clickID string }{
		{"own", "(internal)", "(internal)", ""},
		{"app", "google", "organic", ""},
		{"gmail", "gmail", "email", ""},
		{"ad", "google", "cpc", "0AAAAAo-test"},
	} {
		if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = ? AND source = ? AND medium = ? AND click_id = ?",
			c.visitor, c.source, c.medium, c.clickID); n != 1 {
			t.Errorf("%s: no event with source %s, medium %s, click id %q", c.visitor, c.source, c.medium, c.clickID)
		}
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'encoded' AND referrer = 'https://blog.example/café'"); n != 1 {
		t.Error("the referrer's path is not stored readable")
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'cubot' AND is_bot = 0 AND device = 'mobile'"); n != 1 {
		t.Error("the CUBOT phone is stored as a bot")
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'googlebot' AND is_bot = 1"); n != 1 {
		t.Error("Googlebot is stored as a person")
	}

	// The two forms of the page are one row, that a prefix filter finds,
	// without the crawler's view.
	q := reports.Query{Site: "shop", From: at.Add(-time.Hour), To: at.Add(time.Hour)}
	f, err := reports.ParseFilter("page^=/café")
	if err != nil {
		t.Fatal(err)
	}
	q.Filters = []reports.Filter{f}
	tab, err := reports.Breakdown(context.Background(), store.DB(), q, "page", 10)
	if err != nil {
		t.Fatal(err)
	}
	pv := -1
	for i, c := range tab.Columns {
		if c == "pageviews" {
			pv = i
		}
	}
	if len(tab.Rows) != 1 || pv < 0 || tab.Rows[0][0] != "/café/crème" || toInt(tab.Rows[0][pv]) != 2 {
		t.Errorf("by=page, page^=/café: columns %v rows %v, want one row /café/crème with 2 page views", tab.Columns, tab.Rows)
	}
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case uint64:
		return int64(x)
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return -1
}
