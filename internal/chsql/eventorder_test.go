package chsql_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// What the tables of migration 0018 keep, read back; registered (named
// .test_) so that the current-ClickHouse check replays them on both
// engines.
var (
	qTestSessionEnds = chsql.New("chsql.test_session_ends", `SELECT session_id, argMinIfMerge(entry_page), argMaxIfMerge(exit_page),
       argMinMerge(entry_source), countIfMerge(pageviews)
FROM sessions WHERE site_id = 'o' GROUP BY session_id ORDER BY session_id`)
	qTestPersons = chsql.New("chsql.test_persons", `SELECT visitor_id, argMinMerge(first_user_id)
FROM identities WHERE site_id = 'o' GROUP BY visitor_id ORDER BY visitor_id`)
	qTestProductNames = chsql.New("chsql.test_product_names", `SELECT visitor_id, product_id, argMaxMerge(product_name), countMerge(views)
FROM viewed_products WHERE site_id = 'o' GROUP BY visitor_id, product_id ORDER BY visitor_id, product_id`)
)

// eventOrderMigration is migration 0018, which keys the first and last
// events' states by the order the events happened in.
func eventOrderMigration(t *testing.T) chsql.Migration {
	t.Helper()
	ms, err := chsql.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if strings.HasSuffix(m.Name, "_event_order.sql") {
			return m
		}
	}
	t.Fatal("no event_order migration")
	return chsql.Migration{}
}

// TestEventOrderMigration: sessions, identities and viewed products
// stored before migration 0018, whose events share a second, read their
// truly first and last events after it (the backfill), as do those that
// get events after it (the views), and after the migration ran a second
// time (a migration cut short runs again). Before it, of the events of
// one second, the states kept whichever ClickHouse read first.
//
//	s000..s119  three page views in one second (a click on another page before them in every fifth):
//	            entry page, exit page, the first event's source; every fourth gets a fourth page view
//	            in the same second after the migration, which is its exit page then
//	p000..p059  two user ids in one second: the first is the person; a third after the migration changes nothing
//	b000..b059  a product viewed under two names in one second: the second is its name; a third after
//	            the migration is its name then
func TestEventOrderMigration(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	conn := store.DB().Driver()
	mig := eventOrderMigration(t)

	// Take the three tables back to where 0005 to 0007 left them.
	for _, stmt := range []string{"DROP TABLE sessions_mv", "DROP TABLE sessions", "DROP TABLE identities_mv", "DROP TABLE identities",
		"DROP TABLE viewed_products_mv", "DROP TABLE viewed_products"} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	ms, _ := chsql.Migrations()
	recreated := 0
	for _, m := range ms {
		if m.Version >= mig.Version {
			break
		}
		for _, s := range m.Statements {
			for _, table := range []string{"sessions", "identities", "viewed_products"} {
				if strings.HasPrefix(s.SQL(), "CREATE TABLE IF NOT EXISTS "+table+" (") ||
					strings.HasPrefix(s.SQL(), "CREATE MATERIALIZED VIEW IF NOT EXISTS "+table+"_mv ") {
					if err := conn.Exec(ctx, s.SQL()); err != nil {
						t.Fatalf("%s: %v", s.SQL(), err)
					}
					recreated++
				}
			}
		}
	}
	if recreated != 6 {
		t.Fatalf("recreated %d tables and views of 0005 to 0007, want 6", recreated)
	}
	for _, stmt := range []string{"DROP TABLE schema_migrations",
		"CREATE TABLE schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = ReplacingMergeTree ORDER BY version"} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, applied_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version != mig.Version {
			if err := b.Append(uint32(m.Version), m.Name, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}

	base := time.Date(2026, time.November, 20, 10, 0, 0, 0, time.UTC)
	hit := func(at time.Time, typ, visitor, session, path, ref string) stacktest.Hit {
		f := map[event.Field]string{event.Site: "o", event.Type: typ, event.VisitorID: visitor,
			event.URL: "https://o.example" + path, event.Referrer: ref}
		if session != "" {
			f[event.SessionID] = session
		}
		return stacktest.Hit{At: at, Fields: f}
	}
	refs := []string{"https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/"}
	orders := [3][3]string{{"/a", "/b", "/c"}, {"/c", "/a", "/b"}, {"/b", "/c", "/a"}}
	type sessionEnds struct {
		entry, exit, source string
		pageviews           uint64
	}
	wantSessions := map[string]sessionEnds{}
	wantPersons := map[string]string{}
	wantNames := map[string]string{}
	var hits []stacktest.Hit
	var firsts []int // each session's first event, in hits
	for i := 0; i < 120; i++ {
		s, second := fmt.Sprintf("s%03d", i), base.Add(time.Duration(i)*time.Second)
		firsts = append(firsts, len(hits))
		if i%5 == 0 {
			hits = append(hits, hit(second, "click", "v"+s, s, "/before", "https://t.co/x"))
		}
		for k, p := range orders[i%3] {
			// The first two in one millisecond: the ids' counter orders them.
			hits = append(hits, hit(second.Add(time.Duration(200+500*(k/2))*time.Millisecond), "pageview", "v"+s, s, p, refs[(i+k)%3]))
		}
		wantSessions[s] = sessionEnds{entry: orders[i%3][0], exit: orders[i%3][2], pageviews: 3}
	}
	for i := 0; i < 60; i++ {
		p, at := fmt.Sprintf("p%03d", i), base.Add(time.Duration(i)*time.Second)
		for _, u := range []string{"first", "second"} {
			h := hit(at, "sign_up", p, "", "/account", "")
			h.Fields[event.UserID] = fmt.Sprintf("%s-%s@o.example", u, p)
			hits = append(hits, h)
		}
		wantPersons[p] = fmt.Sprintf("first-%s@o.example", p)
		v := fmt.Sprintf("b%03d", i)
		for _, name := range []string{"Old", "New"} {
			h := hit(at, "product_view", v, "", "/hat", "")
			h.Fields[event.Name] = name + " hat"
			h.Props = []string{"id", "H-1"}
			hits = append(hits, h)
		}
		wantNames[v] = "New hat"
	}
	rows := stacktest.Rows(hits...)
	for i, s := range sortedKeys(wantSessions) {
		w := wantSessions[s]
		w.source = rows[firsts[i]].Enriched.Source
		wantSessions[s] = w
	}
	insertBackwards(t, store, rows)

	check := func(when string) {
		t.Helper()
		got := map[string]sessionEnds{}
		read(t, store, qTestSessionEnds, func(scan func(...any) error) error {
			var s string
			var e sessionEnds
			err := scan(&s, &e.entry, &e.exit, &e.source, &e.pageviews)
			got[s] = e
			return err
		})
		compare(t, when, "sessions (entry, exit, source, page views)", got, wantSessions)
		persons := map[string]string{}
		read(t, store, qTestPersons, func(scan func(...any) error) error {
			var v, p string
			err := scan(&v, &p)
			persons[v] = p
			return err
		})
		compare(t, when, "persons", persons, wantPersons)
		names := map[string]string{}
		read(t, store, qTestProductNames, func(scan func(...any) error) error {
			var v, id, name string
			var views uint64
			err := scan(&v, &id, &name, &views)
			names[v] = name
			return err
		})
		compare(t, when, "product names", names, wantNames)
	}

	if err := chsql.Migrate(ctx, store.DB()); err != nil {
		t.Fatal(err)
	}
	check("after the migration")

	// Events after it, in the same seconds as before: the views' states
	// join the backfill's.
	hits = hits[:0]
	for i := 0; i < 120; i += 4 {
		s := fmt.Sprintf("s%03d", i)
		hits = append(hits, hit(base.Add(time.Duration(i)*time.Second+900*time.Millisecond), "pageview", "v"+s, s, "/z", ""))
		w := wantSessions[s]
		w.exit, w.pageviews = "/z", 4
		wantSessions[s] = w
	}
	for i := 0; i < 60; i += 2 {
		p, v, at := fmt.Sprintf("p%03d", i), fmt.Sprintf("b%03d", i), base.Add(time.Duration(i)*time.Second+999*time.Millisecond)
		h := hit(at, "sign_up", p, "", "/account", "")
		h.Fields[event.UserID] = "third-" + p + "@o.example"
		view := hit(at, "product_view", v, "", "/hat", "")
		view.Fields[event.Name], view.Props = "Newest hat", []string{"id", "H-1"}
		hits = append(hits, h, view)
		wantNames[v] = "Newest hat"
	}
	insertBackwards(t, store, stacktest.Rows(hits...))
	check("with events after the migration")

	// The migration cut short, run again whole: the runner takes the
	// ALTERs that find their columns as they leave them as done, and the
	// backfills add states of the same events.
	for i, s := range mig.Statements {
		if err := store.DB().Exec(ctx, s, nil); err != nil && !chsql.ColumnDone(s.SQL(), err) {
			t.Fatalf("statement %d again: %v", i+1, err)
		}
	}
	check("after the migration ran again")
}

// insertBackwards inserts rows last first, in two inserts, so that
// neither the order of inserts nor the order in a block is the events'.
func insertBackwards(t *testing.T, store *chstore.Store, rows []chstore.Row) {
	t.Helper()
	var back []chstore.Row
	for i := len(rows) - 1; i >= 0; i-- {
		back = append(back, rows[i])
	}
	half := len(back) / 2
	for _, part := range [][]chstore.Row{back[:half], back[half:]} {
		if err := store.Insert(context.Background(), part); err != nil {
			t.Fatal(err)
		}
	}
}

func read(t *testing.T, store *chstore.Store, q *chsql.Query, row func(scan func(...any) error) error) {
	t.Helper()
	rows, err := store.DB().Query(context.Background(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func compare[V comparable](t *testing.T, when, what string, got, want map[string]V) {
	t.Helper()
	wrong := 0
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			if wrong++; wrong <= 3 {
				t.Errorf("%s: %s of %s: %v, want %v", when, what, k, g, w)
			}
		}
	}
	if wrong > 0 || len(got) != len(want) {
		t.Errorf("%s: %s: %d of %d wrong, %d rows", when, what, wrong, len(want), len(got))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
