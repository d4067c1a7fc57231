package enrich_test

import (
	"context"
	"strings"
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
		hit("nfd", "https://shop.example/cafe\u0301/cre%CC%80me", ""),
		hit("taboola", "https://shop.example/?x=1&TBLCI=GiD-tb", ""),
		hit("upper", "https://shop.example/?UTM_SOURCE=News&Utm_Medium=Email", "https://www.google.com/"),
		hit("maps", "https://shop.example/", "android-app://com.google.android.apps.maps/"),
		hit("samsung", "https://shop.example/", "android-app://com.sec.android.app.sbrowser/"),
		hit("edge", "https://shop.example/", "ios-app://1288723196/"),
		hit("perplexity", "https://shop.example/", "https://www.perplexity.ai/"),
		hit("chatgpt", "https://shop.example/?utm_source=chatgpt.com", ""),
		hit("idn", "https://xn--caf-dma.example/u%CC%88ber", "https://CAFÉ.example/"),
		cubot, googlebot,
	)
	for _, c := range []struct{ visitor, source, medium, clickID string }{
		{"own", "(internal)", "(internal)", ""},
		{"app", "google", "organic", ""},
		{"gmail", "gmail", "email", ""},
		{"ad", "google", "cpc", "0AAAAAo-test"},
		{"taboola", "taboola", "cpc", "GiD-tb"},
		{"upper", "news", "email", ""},
		{"maps", "google maps", "organic", ""},
		{"samsung", "samsung internet", "referral", ""},
		{"edge", "edge", "referral", ""},
		{"perplexity", "perplexity", "ai", ""},
		{"chatgpt", "chatgpt", "ai", ""},
		{"idn", "(internal)", "(internal)", ""},
	} {
		if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = ? AND source = ? AND medium = ? AND click_id = ?",
			c.visitor, c.source, c.medium, c.clickID); n != 1 {
			t.Errorf("%s: no event with source %s, medium %s, click id %q", c.visitor, c.source, c.medium, c.clickID)
		}
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'encoded' AND referrer = 'https://blog.example/café'"); n != 1 {
		t.Error("the referrer's path is not stored readable")
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'upper' AND utm_source = 'News' AND utm_medium = 'Email'"); n != 1 {
		t.Error("UTM_SOURCE=News is not stored as utm_source News")
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'idn' AND url_host = 'café.example' AND url_path = '/über' AND referrer_host = 'café.example'"); n != 1 {
		t.Error("the punycode host and the NFD path are not stored in their one form")
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'cubot' AND is_bot = 0 AND device = 'mobile'"); n != 1 {
		t.Error("the CUBOT phone is stored as a bot")
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'googlebot' AND is_bot = 1"); n != 1 {
		t.Error("Googlebot is stored as a person")
	}

	// The three forms of the page (escaped, typed, NFD) are one row, that
	// a prefix filter finds in any of those forms, without the crawler's
	// view; the punycode host is the Unicode one.
	q := reports.Query{Site: "shop", From: at.Add(-time.Hour), To: at.Add(time.Hour)}
	for _, filter := range []string{"page^=/café", "page^=/caf%C3%A9", "page^=/cafe\u0301/cr", "section==/caf%c3%a9", "host==shop.example"} {
		f, err := reports.ParseFilter(filter)
		if err != nil {
			t.Fatal(err)
		}
		q.Filters = []reports.Filter{f}
		tab, err := reports.Breakdown(context.Background(), store.DB(), q, "page", 10)
		if err != nil {
			t.Fatal(err)
		}
		if row := rowOf(tab, "/café/crème"); len(row) == 0 || toInt(row[col(tab, "pageviews")]) != 3 {
			t.Errorf("by=page, %s: columns %v rows %v, want /café/crème with 3 page views", filter, tab.Columns, tab.Rows)
		}
		if strings.HasPrefix(filter, "page") && len(tab.Rows) != 1 {
			t.Errorf("by=page, %s: rows %v, want one", filter, tab.Rows)
		}
	}
	for _, filter := range []string{"host==xn--caf-dma.example", "host==CAFÉ.example", "referrer==XN--CAF-DMA.EXAMPLE"} {
		f, err := reports.ParseFilter(filter)
		if err != nil {
			t.Fatal(err)
		}
		q.Filters = []reports.Filter{f}
		tab, err := reports.Breakdown(context.Background(), store.DB(), q, "page", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(tab.Rows) != 1 || tab.Rows[0][0] != "/über" {
			t.Errorf("by=page, %s: rows %v, want /über", filter, tab.Rows)
		}
	}
}

func col(tab reports.Table, name string) int {
	for i, c := range tab.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

func rowOf(tab reports.Table, first string) []any {
	for _, r := range tab.Rows {
		if r[0] == first {
			return r
		}
	}
	return nil
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
