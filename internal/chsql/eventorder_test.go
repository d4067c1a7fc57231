package chsql_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// What the tables of migration 0018 that are still there keep, read back
// (sessions, the third, is gone since 0031); registered (named .test_) so
// that the current-ClickHouse check replays them on both engines.
var (
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

// TestEventOrderMigration: identities and viewed products stored before
// migration 0018, whose events share a second, read their truly first and
// last events after it (the backfill), as do those that get events after
// it (the views), and after the migration ran a second time (a migration
// cut short runs again). Before it, of the events of one second, the
// states kept whichever ClickHouse read first.
//
// 0018 also keyed the sessions table's states so; that table has no
// reader and is gone since 0031, so its contents are not checked here. It
// is made again as 0005 left it all the same, since 0018 alters it: a
// database from before 0018 has it, and 0018 must run there, whole and
// again, before 0031 drops it.
//
//	p000..p059  two user ids in one second: the first is the person; a third after the migration changes nothing
//	b000..b059  a product viewed under two names in one second: the second is its name; a third after
//	            the migration is its name then
func TestEventOrderMigration(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	conn := store.DB().Driver()
	mig := eventOrderMigration(t)

	// Take the three tables back to where 0005 to 0007 left them
	// (sessions, dropped by 0031, is not there to drop: it is only made
	// again).
	for _, stmt := range []string{"DROP TABLE identities_mv", "DROP TABLE identities",
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
	hit := func(at time.Time, typ, visitor, path string) stacktest.Hit {
		return stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "o", event.Type: typ, event.VisitorID: visitor,
			event.URL: "https://o.example" + path}}
	}
	wantPersons := map[string]string{}
	wantNames := map[string]string{}
	var hits []stacktest.Hit
	for i := 0; i < 60; i++ {
		p, at := fmt.Sprintf("p%03d", i), base.Add(time.Duration(i)*time.Second)
		for _, u := range []string{"first", "second"} {
			h := hit(at, "sign_up", p, "/account")
			h.Fields[event.UserID] = fmt.Sprintf("%s-%s@o.example", u, p)
			hits = append(hits, h)
		}
		wantPersons[p] = fmt.Sprintf("first-%s@o.example", p)
		v := fmt.Sprintf("b%03d", i)
		for _, name := range []string{"Old", "New"} {
			h := hit(at, "product_view", v, "/hat")
			h.Fields[event.Name] = name + " hat"
			h.Props = []string{"id", "H-1"}
			hits = append(hits, h)
		}
		wantNames[v] = "New hat"
	}
	insertBackwards(t, store, stacktest.Rows(hits...))

	check := func(when string) {
		t.Helper()
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
	for i := 0; i < 60; i += 2 {
		p, v, at := fmt.Sprintf("p%03d", i), fmt.Sprintf("b%03d", i), base.Add(time.Duration(i)*time.Second+999*time.Millisecond)
		h := hit(at, "sign_up", p, "/account")
		h.Fields[event.UserID] = "third-" + p + "@o.example"
		view := hit(at, "product_view", v, "/hat")
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
