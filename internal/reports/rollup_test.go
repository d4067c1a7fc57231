package reports_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/internal/reports"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// rollupTraffic stores 16 days of mixed traffic (November 2 to 17, 2026,
// UTC: two whole weeks from Monday and two days) for site shop: 400
// visitors in sessions of page views,
// carts and purchases, from Google, Bing, a newsletter or nowhere, on
// three browsers and two devices, on two hosts; orders sent twice (the
// server's copy later, with another amount, or under the customer's id
// only), purchases without an order id, orders in USD (no rate: the
// unconverted), bots, newsletter opens, and a server-side order first
// credited (direct) then given its session's credit (the processor's
// recredit, a mutation of the copy written before).
func rollupTraffic(t *testing.T) *chstore.Store {
	_, store := stacktest.ClickHouse(t)
	rng := rand.New(rand.NewPCG(24, 32))
	day0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	uas := []string{
		"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
	}
	refs := []string{"https://www.google.com/", "https://www.bing.com/", "", "", "https://news.example/"}
	pages := []string{"/", "/shoes", "/shoes/1", "/shoes/2", "/hats", "/hats/7", "/bags/3", "/cart"}
	var hits []stacktest.Hit
	for v := range 400 {
		visitor := fmt.Sprintf("v%03d", v)
		ua := uas[rng.IntN(len(uas))]
		host := "https://shop.example"
		if v%7 == 0 {
			host = "https://m.shop.example"
		}
		at := day0.Add(time.Duration(rng.IntN(16*24*60)) * time.Minute)
		for s := range 1 + rng.IntN(2) {
			session := fmt.Sprintf("%s-%d", visitor, s)
			ref := refs[rng.IntN(len(refs))]
			url := pages[rng.IntN(len(pages))]
			if ref == "" && rng.IntN(3) == 0 {
				url += "?utm_source=newsletter&utm_medium=email&utm_campaign=nov"
			}
			hit := func(typ, url, ref string) stacktest.Hit {
				at = at.Add(time.Duration(1+rng.IntN(300)) * time.Second)
				return stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: typ,
					event.VisitorID: visitor, event.SessionID: session, event.URL: host + url, event.Referrer: ref,
					event.UserAgent: ua, event.Name: "product-" + url}}
			}
			hits = append(hits, hit("pageview", url, ref))
			for range rng.IntN(4) {
				hits = append(hits, hit("pageview", pages[rng.IntN(len(pages))], host+"/"))
			}
			if rng.IntN(3) == 0 {
				hits = append(hits, hit("add_to_cart", "/cart", ""))
			}
			if rng.IntN(4) == 0 {
				p := hit("purchase", "/thanks", "")
				order, currency := fmt.Sprintf("o-%s-%d", visitor, s), "EUR"
				switch rng.IntN(6) {
				case 0:
					order = "" // each such purchase an order of its own
				case 1:
					currency = "USD" // no rate: unconverted
				}
				p.Fields[event.OrderID], p.Fields[event.Currency], p.Revenue = order, currency, int64(1+rng.IntN(200))*1_000_000
				hits = append(hits, p)
				if order != "" && rng.IntN(3) == 0 {
					// The server's copy, the next day, another amount.
					hits = append(hits, stacktest.Hit{At: at.Add(20 * time.Hour), Ingest: event.IngestAPI, Revenue: p.Revenue + 5_000_000,
						Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase", event.VisitorID: "u:" + visitor,
							event.OrderID: order, event.Currency: currency}})
				}
			}
			at = at.Add(time.Duration(rng.IntN(36*60)) * time.Minute)
		}
	}
	// 150 pages of 1,900-byte paths, a visitor each: a breakdown that
	// shows them cannot name them in its statements (keysFit).
	for i := range 150 {
		hits = append(hits, stacktest.Hit{At: day0.Add(3*24*time.Hour + time.Duration(i)*time.Minute), Fields: map[event.Field]string{
			event.Site: "shop", event.Type: "pageview", event.VisitorID: fmt.Sprintf("long%d", i), event.SessionID: fmt.Sprintf("long%d-1", i),
			event.URL: fmt.Sprintf("https://shop.example/long/%03d/%s", i, strings.Repeat("x", 1900))}})
	}
	// Bots and newsletter opens, which no report counts.
	for i := range 20 {
		at := day0.Add(time.Duration(i*4) * time.Hour)
		hits = append(hits,
			stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview", event.VisitorID: fmt.Sprintf("bot%d", i),
				event.URL: "https://shop.example/shoes", event.UserAgent: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}},
			stacktest.Hit{At: at, Ingest: event.IngestEmail, Fields: map[event.Field]string{event.Site: "shop", event.Type: "email_open",
				event.VisitorID: fmt.Sprintf("r%d", i)}})
	}
	stacktest.Insert(t, store, hits...)
	// The server's copy of an order first (direct, no landing), the
	// browser's in a session from Google later, in another batch: the
	// processor credits the first copy again.
	landed := day0.Add(9*24*time.Hour + 2*time.Hour)
	stacktest.Insert(t, store,
		stacktest.Hit{At: landed, Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview", event.VisitorID: "late",
			event.SessionID: "late-1", event.URL: "https://shop.example/", event.Referrer: "https://www.google.com/"}},
		stacktest.Hit{At: landed.Add(time.Minute), Ingest: event.IngestAPI, Revenue: 70_000_000, Fields: map[event.Field]string{event.Site: "shop",
			event.Type: "purchase", event.VisitorID: "u:late", event.OrderID: "o-late", event.Currency: "EUR"}})
	stacktest.Insert(t, store,
		stacktest.Hit{At: landed.Add(2 * time.Minute), Revenue: 70_000_000, Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase",
			event.VisitorID: "late", event.SessionID: "late-1", event.URL: "https://shop.example/thanks", event.OrderID: "o-late", event.Currency: "EUR"}})
	recredited := `SELECT count() FROM purchases WHERE order_id = 'o-late' AND visit_source = 'google'`
	for deadline := time.Now().Add(10 * time.Second); stacktest.Count(t, store, recredited) < 2 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if n := stacktest.Count(t, store, `SELECT count() FROM events WHERE order_id = 'o-late' AND visit_source = 'google'`); n != 2 {
		t.Fatalf("the server's copy of o-late was not credited again: %d copies credited to google, want 2", n)
	}
	return store
}

// TestBreakdownRollups: a breakdown of a site with exactBelow visitors or
// more, by a dimension a rollup keys (migration 0032) under filters on
// such dimensions, answers from the rollups what the events' statement
// answers: every row, value and unconverted order, in UTC, Paris and
// Kolkata (half an hour off: every day's edges from the events), for
// periods with two whole UTC weeks, one, none (a day and a half), and
// part of one day. Then, with the rollups emptied, its answers change: it
// reads them.
func TestBreakdownRollups(t *testing.T) {
	store := rollupTraffic(t)
	ctx := context.Background()
	defer reports.SetExactBelow(1)()
	paris, _ := time.LoadLocation("Europe/Paris")
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	day := func(d int, loc *time.Location) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, loc) }
	periods := []reports.Query{
		{Site: "shop", From: day(2, time.UTC), To: day(18, time.UTC)},
		{Site: "shop", From: day(3, paris), To: day(17, paris), Zone: paris},
		{Site: "shop", From: day(4, kolkata), To: day(17, kolkata), Zone: kolkata},
		{Site: "shop", From: day(9, time.UTC), To: day(16, time.UTC)},
		{Site: "shop", From: day(10, time.UTC).Add(13 * time.Hour), To: day(12, time.UTC), Currency: "USD"},
		{Site: "shop", From: day(11, time.UTC).Add(3 * time.Hour), To: day(11, time.UTC).Add(17 * time.Hour)},
	}
	f := func(dim, op, v string) reports.Filter { return reports.Filter{Dim: dim, Op: op, Value: v} }
	cases := []struct {
		by      string
		filters []reports.Filter
	}{
		{"type", nil}, {"host", nil}, {"source", nil}, {"medium", nil}, {"device", nil}, {"browser", nil}, {"os", nil}, {"country", nil},
		{"page", nil}, {"section", nil},
		{"browser", []reports.Filter{f("device", "==", "mobile"), f("source", "==", "google")}},
		{"source", []reports.Filter{f("browser", "!=", "Firefox")}},
		{"type", []reports.Filter{f("source", "==", "google")}},
		{"host", []reports.Filter{f("type", "==", "purchase")}},
		{"page", []reports.Filter{f("page", "^=", "/shoes")}},
		{"section", []reports.Filter{f("page", "!=", "/")}},
	}
	limit := 5
	answer := func(q reports.Query, by string, rollups bool) reports.Table {
		t.Helper()
		defer reports.SetUseRollups(rollups)()
		tab, err := reports.Breakdown(ctx, store.DB(), q, by, limit)
		if err != nil {
			t.Fatalf("by %s %v, rollups %v: %v", by, q.Filters, rollups, err)
		}
		return tab
	}
	rows, unconverted := 0, 0
	for _, p := range periods {
		for _, c := range cases {
			q := p
			q.Filters = c.filters
			want, got := answer(q, c.by, false), answer(q, c.by, true)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s to %s by %s %v: from the rollups\n%v %v\nwant the events'\n%v %v", q.From, q.To, c.by, q.Filters,
					got.Rows, got.Unconverted, want.Rows, want.Unconverted)
			}
			rows += len(want.Rows)
			unconverted += len(want.Unconverted)
		}
	}
	if rows < 200 || unconverted == 0 {
		t.Fatalf("%d rows and %d unconverted currencies in all the answers: the traffic does not test much", rows, unconverted)
	}
	// The long pages among the values shown: 285 KB of paths, which a
	// statement naming them four times could not hold.
	limit = 200
	if got, want := answer(periods[0], "page", true), answer(periods[0], "page", false); !reflect.DeepEqual(got, want) || len(want.Rows) < 150 {
		t.Errorf("by page, 200 values: from the rollups\n%.2000v\nwant the events'\n%.2000v", got.Rows, want.Rows)
	}
	limit = 5
	// Retention deletes the site's rows before Wednesday November 4, as
	// processor/retention does, the row of that week (its Monday, the
	// 2nd) with them: the week's later days count from their own rows.
	for _, del := range []string{
		"ALTER TABLE events DELETE WHERE site_id = 'shop' AND time < toDateTime('2026-11-04 00:00:00')",
		"ALTER TABLE purchases DELETE WHERE site_id = 'shop' AND time < toDateTime('2026-11-04 00:00:00')",
		"ALTER TABLE breakdowns_daily DELETE WHERE site_id = 'shop' AND day < toDate('2026-11-04')",
		"ALTER TABLE page_breakdowns DELETE WHERE site_id = 'shop' AND day < toDate('2026-11-04')",
	} {
		if err := store.DB().Driver().Exec(ctx, del); err != nil {
			t.Fatal(err)
		}
	}
	pending := "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND is_done = 0"
	for deadline := time.Now().Add(30 * time.Second); stacktest.Count(t, store, pending) > 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	for _, by := range []string{"page", "section", "browser"} {
		for _, q := range []reports.Query{periods[0], periods[1]} {
			if got, want := answer(q, by, true), answer(q, by, false); !reflect.DeepEqual(got, want) {
				t.Errorf("after retention, %s to %s by %s: from the rollups\n%v\nwant the events'\n%v", q.From, q.To, by, got.Rows, want.Rows)
			}
		}
	}
	for _, table := range []string{"breakdowns_daily", "page_breakdowns"} {
		if err := store.DB().Driver().Exec(ctx, "TRUNCATE TABLE "+table); err != nil {
			t.Fatal(err)
		}
	}
	for _, by := range []string{"browser", "page"} {
		if got, want := answer(periods[0], by, true), answer(periods[0], by, false); reflect.DeepEqual(got.Rows, want.Rows) {
			t.Errorf("by %s: the same answer with its rollup emptied: not read from it", by)
		}
	}
}

// TestRollupStatesAreTheMetrics: migration 0032's views write each
// rollup state with the expression the reports merge it as (the
// metric's sketched aggregate over events, as a state), so a rollup's
// states and the events' states of a period's edges are one aggregate.
func TestRollupStatesAreTheMetrics(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	for _, view := range []string{"breakdowns_daily_mv", "page_breakdowns_mv"} {
		var create string
		if err := store.DB().Driver().QueryRow(context.Background(), "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = ?", view).Scan(&create); err != nil {
			t.Fatalf("%s: %v", view, err)
		}
		create = strings.Join(strings.Fields(create), " ")
		for column, state := range reports.RolledStates() {
			if !strings.Contains(create, state+" AS "+column) {
				t.Errorf("%s: no %s AS %s in\n%s", view, state, column, create)
			}
		}
	}
}
