package attribute_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/processor/enrich"
	"footfall/tests/stacktest"
)

const (
	firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
	crawler = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	google  = "https://www.google.com/"
)

// ev is an event as these tests write it.
type ev struct {
	at                   time.Time
	visitor, session     string
	typ, url, ref, order string
	ua                   string
	ingest               event.Ingest
}

func (e ev) row() chstore.Row {
	var r chstore.Row
	ms := e.at.UnixMilli()
	r.Event = event.Event{ID: event.NewID(ms), TimeMs: ms, Ingest: e.ingest}
	if r.Event.Ingest == 0 {
		r.Event.Ingest = event.IngestBeacon
	}
	f := &r.Event.F
	f[event.Site], f[event.VisitorID], f[event.SessionID] = []byte("shop"), []byte(e.visitor), []byte(e.session)
	f[event.Type], f[event.Referrer], f[event.OrderID] = []byte(e.typ), []byte(e.ref), []byte(e.order)
	if e.typ == "" {
		f[event.Type] = []byte("pageview")
	}
	if e.url != "" {
		f[event.URL] = []byte("https://shop.example" + e.url)
	}
	f[event.UserAgent] = []byte(firefox)
	if e.ua != "" {
		f[event.UserAgent] = []byte(e.ua)
	}
	enrich.New(1).Enrich(&r.Event, &r.Enriched)
	return r
}

func insert(t *testing.T, s *chstore.Store, evs ...ev) {
	t.Helper()
	rows := make([]chstore.Row, len(evs))
	for i, e := range evs {
		rows[i] = e.row()
	}
	if err := s.Insert(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
}

// credited is what the stored event of visitor and session at t is
// credited to.
func credited(t *testing.T, s *chstore.Store, visitor, session string, at time.Time) string {
	t.Helper()
	var got string
	if err := s.DB().Driver().QueryRow(context.Background(), `SELECT concat(visit_source, ' / ', visit_medium) FROM events
WHERE visitor_id = ? AND session_id = ? AND time = ?`, visitor, session, at).Scan(&got); err != nil {
		t.Fatalf("%s %s at %s: %v", visitor, session, at, err)
	}
	return got
}

// TestCreditFromClickHouse: a processor that never saw a visitor (another
// consumer wrote their landing, or it restarted) credits their events as
// one that saw everything: it reads their touches and when their sessions
// began from ClickHouse. Each later batch goes through a new store, whose
// memory is empty.
func TestCreditFromClickHouse(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	fresh := func() *chstore.Store { return chstore.On(store.DB()) }
	t0 := time.Now().UTC().Truncate(time.Second).AddDate(0, 0, -60)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const day, min = 24 * time.Hour, time.Minute
	insert(t, store,
		ev{at: t0, visitor: "late", session: "l1", url: "/", ref: google},
		ev{at: t0, visitor: "server", session: "s1", url: "/", ref: google},
		ev{at: t0, visitor: "back", session: "b1", url: "/", ref: google},
		ev{at: t0, visitor: "old", session: "o1", url: "/", ref: google},
		ev{at: t0, visitor: "edge", session: "e1", url: "/", ref: google},
		ev{at: at(30*day - 10*min), visitor: "edge", session: "e2", url: "/"},
	)
	// An order in the landing's session, arriving after it.
	insert(t, fresh(), ev{at: at(5 * min), visitor: "late", session: "l1", typ: "purchase", url: "/thanks", order: "o1"})
	// The shop's server sends an order an hour later, with the visitor id.
	insert(t, fresh(), ev{at: at(time.Hour), visitor: "server", typ: "purchase", order: "o2"})
	// A direct return visit three days later, and its order.
	insert(t, fresh(), ev{at: at(3 * day), visitor: "back", session: "b2", url: "/"},
		ev{at: at(3*day + min), visitor: "back", session: "b2", typ: "purchase", url: "/thanks", order: "o3"})
	// A direct visit 31 days later: the touch is too old.
	insert(t, fresh(), ev{at: at(31 * day), visitor: "old", session: "o2", url: "/"})
	// The session began within the window: its events past it are still
	// Google's, not an order without a session at the same time.
	insert(t, fresh(), ev{at: at(30*day + 10*min), visitor: "edge", session: "e2", url: "/p"},
		ev{at: at(30*day + 10*min), visitor: "edge", typ: "purchase", order: "o4"})

	for _, c := range []struct {
		visitor, session string
		at               time.Time
		want             string
	}{
		{"late", "l1", at(5 * min), "google / organic"},
		{"server", "", at(time.Hour), "google / organic"},
		{"back", "b2", at(3 * day), "google / organic"},
		{"back", "b2", at(3*day + min), "google / organic"},
		{"old", "o2", at(31 * day), "(direct) / (none)"},
		{"edge", "e2", at(30*day - 10*min), "google / organic"},
		{"edge", "e2", at(30*day + 10*min), "google / organic"},
		{"edge", "", at(30*day + 10*min), "(direct) / (none)"},
	} {
		if got := credited(t, store, c.visitor, c.session, c.at); got != c.want {
			t.Errorf("%s %q at %s: credited to %q, want %q", c.visitor, c.session, c.at.Sub(t0), got, c.want)
		}
	}
}

// TestForgetVisitors: a store that remembers a visitor credits from memory,
// so when another consumer wrote the visitor's events meanwhile (a Kafka
// partition that moved and came back), it must forget, as the consumer
// makes it on finding a gap in a partition's offsets, and read again.
func TestForgetVisitors(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	t0 := time.Now().UTC().Truncate(time.Second).AddDate(0, 0, -10)
	insert(t, store, ev{at: t0, visitor: "v", session: "s1", url: "/", ref: google})
	other := chstore.On(store.DB())
	insert(t, other, ev{at: t0.Add(24 * time.Hour), visitor: "v", session: "s2", url: "/?utm_source=newsletter&utm_medium=email"})
	store.ForgetVisitors()
	insert(t, store, ev{at: t0.Add(48 * time.Hour), visitor: "v", session: "s3", url: "/"})
	if got := credited(t, store, "v", "s3", t0.Add(48*time.Hour)); got != "newsletter / email" {
		t.Errorf("after the newsletter visit another store wrote: %q, want newsletter / email", got)
	}
}

// TestSQLRuleAgrees: migration 0016 credits the events stored before it
// with the rule in SQL, the processor every event since with the rule in
// Go. A random month of traffic (landings from search, campaigns, ads,
// affiliates, direct visits, returns from other sites in the middle of a
// session, server-side orders, crawlers, newsletter opens, events without
// a visitor id) is credited by the processor, in batches in time order,
// once remembering every visitor and once from a store that never saw
// them (reading ClickHouse); the same events stored without their credit
// in another database, as they stood before 0016, are credited by the
// migration. All three must agree on every event, and the overview's
// sources (0017) with them.
func TestSQLRuleAgrees(t *testing.T) {
	ctx := context.Background()
	evs := traffic(rand.New(rand.NewPCG(7, 11)))
	_, warm := stacktest.ClickHouse(t)
	_, cold := stacktest.ClickHouse(t)
	_, before := stacktest.ClickHouse(t)
	rows := make([]chstore.Row, len(evs))
	for i, e := range evs {
		rows[i] = e.row()
	}
	rng := rand.New(rand.NewPCG(3, 5))
	for start := 0; start < len(rows); {
		end := min(len(rows), start+1+rng.IntN(40))
		batch := append([]chstore.Row(nil), rows[start:end]...)
		rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		if err := warm.Insert(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if err := chstore.On(cold.DB()).Insert(ctx, batch); err != nil {
			t.Fatal(err)
		}
		start = end
	}
	// The events as they stood before 0016, then 0016 and 0017 again: the
	// runner takes their statements that find their work done as done.
	cols := "event_id, time, site_id, type, name, visitor_id, session_id, user_id, url, url_host, url_path, title, referrer, " +
		"referrer_host, source, medium, utm_source, utm_medium, utm_campaign, utm_term, utm_content, affiliate, click_id, order_id, " +
		"revenue_micros, currency, browser, browser_version, os, device, country, is_bot, ip, user_agent, ingest, prop_keys, prop_values"
	conn := before.DB().Driver()
	copyRows(t, warm, conn, "events", cols)
	if n := stacktest.Count(t, before, "SELECT count() FROM events WHERE visit_source = ''"); n != uint64(len(evs)) {
		t.Fatalf("%d events without credit, want %d", n, len(evs))
	}
	// Forget that 0016 and 0017 ran, and migrate.
	ms, err := chsql.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"DROP TABLE schema_migrations",
		"CREATE TABLE schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = ReplacingMergeTree ORDER BY version"} {
		if err := conn.Exec(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, applied_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version != 16 && m.Version != 17 {
			if err := b.Append(uint32(m.Version), m.Name, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	if err := chsql.Migrate(ctx, before.DB()); err != nil {
		t.Fatal(err)
	}
	if n := stacktest.Count(t, before, "SELECT count() FROM events"); n != uint64(len(evs)) {
		t.Errorf("%d events after the backfill, want %d: copies left", n, len(evs))
	}
	if n := stacktest.Count(t, before, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'visit_backfill'"); n != 0 {
		t.Error("visit_backfill left")
	}
	credits := func(s *chstore.Store) map[string]string {
		out := map[string]string{}
		rows, err := s.DB().Driver().Query(ctx, `SELECT toString(event_id), concat(visitor_id, ' ', session_id, ' ', toString(time), ' ', type, ': ',
    visit_source, ' | ', visit_medium, ' | ', visit_utm_source, ' | ', visit_utm_medium, ' | ', visit_utm_campaign, ' | ',
    visit_utm_term, ' | ', visit_utm_content, ' | ', visit_affiliate, ' | ', visit_click_id) FROM events`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, c string
			if err := rows.Scan(&id, &c); err != nil {
				t.Fatal(err)
			}
			out[id] = c
		}
		return out
	}
	want := credits(before)
	kinds := map[string]int{}
	for _, c := range want {
		kinds[c[strings.Index(c, ": ")+2:]]++
	}
	if len(kinds) < 8 {
		t.Errorf("the traffic has %d kinds of credit, too few to tell: %v", len(kinds), kinds)
	}
	for name, s := range map[string]*chstore.Store{"remembering": warm, "reading ClickHouse": cold} {
		got := credits(s)
		diff := 0
		for id, w := range want {
			if got[id] != w {
				if diff++; diff <= 10 {
					t.Errorf("%s: %s\n   processor: %s", name, w, got[id])
				}
			}
		}
		if diff > 0 || len(got) != len(want) {
			t.Errorf("%s: %d of %d events credited otherwise than by the migration (%d stored)", name, diff, len(want), len(got))
		}
	}
	top := func(s *chstore.Store) string {
		var out string
		if err := s.DB().Driver().QueryRow(ctx, `SELECT toString(groupArray((source, pv, v))) FROM (
    SELECT source, countIfMerge(pageviews) AS pv, uniqMerge(visitors) AS v FROM sources_daily GROUP BY source ORDER BY source)`).Scan(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got, w := top(warm), top(before); got != w {
		t.Errorf("overview sources:\nprocessor %s\nmigration %s", got, w)
	}
}

// copyRows copies the columns cols of table from one database to
// another, as a batch insert (which the current-ClickHouse check replays).
func copyRows(t *testing.T, from *chstore.Store, to driver.Conn, table, cols string) {
	t.Helper()
	ctx := context.Background()
	rows, err := from.DB().Driver().Query(ctx, "SELECT "+cols+" FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	b, err := to.PrepareBatch(ctx, "INSERT INTO "+table+" ("+cols+")")
	if err != nil {
		t.Fatal(err)
	}
	types := rows.ColumnTypes()
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		for i := range dest {
			dest[i] = reflect.ValueOf(dest[i]).Elem().Interface()
		}
		if err := b.Append(dest...); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// traffic is a month of a shop's events for 60 visitors, in time order.
func traffic(rng *rand.Rand) []ev {
	t0 := time.Now().UTC().Truncate(time.Second).AddDate(0, 0, -50)
	landings := []struct{ url, ref string }{
		{"/", ""},
		{"/", ""},
		{"/", google},
		{"/", "https://www.bing.com/"},
		{"/?utm_source=newsletter&utm_medium=email&utm_campaign=bf", ""},
		{"/?utm_source=newsletter&utm_medium=email&utm_campaign=xmas", ""},
		{"/?gclid=abc", google},
		{"/?aff=blog1", "https://blog1.example/post"},
		{"/?aff=blog2", ""},
		{"/p", "https://shop.example/"}, // a tab left open: (internal)
	}
	var out []ev
	order := 0
	for v := 0; v < 60; v++ {
		visitor := fmt.Sprintf("v%02d", v)
		at := t0.Add(time.Duration(rng.IntN(20*24*60)) * time.Minute)
		for s := 0; s < 1+rng.IntN(7); s++ {
			session := fmt.Sprintf("%s-s%d", visitor, s)
			l := landings[rng.IntN(len(landings))]
			// The snippet keeps a landing's campaign tags and click id on
			// every event of the session.
			keep := ""
			if i := strings.IndexByte(l.url, '?'); i >= 0 && !strings.Contains(l.url, "aff=") {
				keep = l.url[i:]
			}
			out = append(out, ev{at: at, visitor: visitor, session: session, url: l.url, ref: l.ref})
			for p := 0; p < rng.IntN(5); p++ {
				at = at.Add(time.Duration(1+rng.IntN(300)) * time.Second)
				ref := "https://shop.example/"
				if rng.IntN(8) == 0 {
					ref = "https://www.facebook.com/" // back from another site
				}
				e := ev{at: at, visitor: visitor, session: session, url: "/p" + keep, ref: ref}
				if rng.IntN(4) == 0 {
					order++
					e.typ, e.order = "purchase", fmt.Sprintf("o%d", order)
				}
				out = append(out, e)
			}
			if rng.IntN(3) == 0 {
				// The shop's server sends an order, later, visitor id only.
				order++
				out = append(out, ev{at: at.Add(time.Duration(rng.IntN(7200)) * time.Second), visitor: visitor, typ: "purchase", order: fmt.Sprintf("o%d", order)})
			}
			// The next visit: within hours, days, or past the window.
			gaps := []time.Duration{2 * time.Hour, 26 * time.Hour, 5 * 24 * time.Hour, 29 * 24 * time.Hour, 31 * 24 * time.Hour}
			at = at.Add(gaps[rng.IntN(len(gaps))] + time.Duration(rng.IntN(3600))*time.Second)
		}
	}
	for i := 0; i < 40; i++ {
		at := t0.Add(time.Duration(rng.IntN(40*24*60)) * time.Minute)
		switch i % 3 {
		case 0: // a crawler from Google
			out = append(out, ev{at: at, visitor: fmt.Sprintf("v%02d", rng.IntN(60)), session: fmt.Sprintf("bot%d", i), url: "/", ref: google, ua: crawler})
		case 1: // a newsletter open
			out = append(out, ev{at: at, visitor: fmt.Sprintf("v%02d", rng.IntN(60)), typ: "email_open", url: "/?utm_source=newsletter&utm_campaign=bf", ingest: event.IngestEmail})
		case 2: // a pixel without a visitor id
			out = append(out, ev{at: at, url: "/", ref: []string{google, ""}[i%2]})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}
