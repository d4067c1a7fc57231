package chsql_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/processor/enrich"
	"footfall/tests/stacktest"
)

func TestMigrationsNumberedAndSplit(t *testing.T) {
	ms, err := chsql.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 3 {
		t.Fatalf("%d migrations", len(ms))
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %s has version %d, want %d: numbers must run without gaps", m.Name, m.Version, i+1)
		}
		if len(m.Statements) == 0 {
			t.Errorf("migration %s has no statements", m.Name)
		}
	}
	if n := len(ms[1].Statements); n != 2 {
		t.Errorf("0002 splits into %d statements, want 2 (table and view)", n)
	}
}

func TestMigrateTwiceIsHarmless(t *testing.T) {
	_, store := stacktest.ClickHouse(t) // migrated once already
	ctx := context.Background()
	if err := chsql.Migrate(ctx, store.DB()); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	ms, _ := chsql.Migrations()
	if got := stacktest.Count(t, store, "SELECT uniqExact(version) FROM schema_migrations"); got != uint64(len(ms)) {
		t.Errorf("schema_migrations records %d versions, want %d", got, len(ms))
	}
	if got := stacktest.Count(t, store, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('events', 'events_hourly', 'events_hourly_mv', 'events_rejected', 'pages_daily', 'pages_daily_mv', 'sources_daily', 'sources_daily_mv', 'viewed_products', 'viewed_products_mv')"); got != 10 {
		t.Errorf("%d of 10 tables exist", got)
	}
	// 0014 dropped visitors: visitor_profiles holds the same.
	if got := stacktest.Count(t, store, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('visitors', 'visitors_mv')"); got != 0 {
		t.Errorf("%d of visitors and visitors_mv are left", got)
	}
	// 0031 dropped sessions (session_parts and the events hold what the
	// reports read) and hours_touched (no writer since 0030).
	if got := stacktest.Count(t, store, gone); got != 0 {
		t.Errorf("%d of sessions, sessions_mv, hours_touched and hours_touched_mv are left", got)
	}
}

// gone counts the tables of the migrations that 0031 (and 0030, the view
// hours_touched_mv) dropped and that a migrated database must not have.
const gone = "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('sessions', 'sessions_mv', 'hours_touched', 'hours_touched_mv')"

// TestBackfills stores events under the schema of migrations 1 to 3, then
// migrates: 0004 to 0007, and 0010 for the sessions' figures
// (session_parts), must fill their tables from the stored events; the
// tables a later migration drops (sessions, made and filled by 0005, and
// hours_touched, both dropped by 0031) must be gone at the end.
func TestBackfills(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	conn := store.DB().Driver()
	// Take the database back to where it stood before 0004.
	for _, stmt := range []string{
		"DROP TABLE pages_daily_mv", "DROP TABLE sources_daily_mv", "DROP TABLE pages_daily", "DROP TABLE sources_daily",
		"DROP TABLE session_parts_mv", "DROP TABLE session_parts",
		"DROP TABLE viewed_products_mv", "DROP TABLE viewed_products",
		// visitor_interests is gone since 0029 (0007 makes it again).
		"DROP TABLE identities_mv", "DROP TABLE visitor_profiles_mv", "DROP TABLE consents_mv",
		"DROP TABLE identities", "DROP TABLE visitor_profiles", "DROP TABLE consents",
		"DROP TABLE schema_migrations",
		"CREATE TABLE schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = ReplacingMergeTree ORDER BY version",
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, applied_at)")
	if err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 3; v++ {
		if err := b.Append(uint32(v), "before", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	var rows []chstore.Row
	add := func(visitor, path, ref string) {
		session := visitor + "-s"
		var r chstore.Row
		now := time.Now().UnixMilli()
		r.Event = event.Event{ID: event.NewID(now), TimeMs: now}
		r.Event.F[event.Site] = []byte("s")
		r.Event.F[event.Type] = []byte("pageview")
		r.Event.F[event.VisitorID] = []byte(visitor)
		r.Event.F[event.SessionID] = []byte(session)
		r.Event.F[event.URL] = []byte("https://s.example" + path)
		r.Event.F[event.Referrer] = []byte(ref)
		r.Event.F[event.UserAgent] = []byte("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0")
		enrich.New(1).Enrich(&r.Event, &r.Enriched)
		rows = append(rows, r)
	}
	add("a", "/x", "https://www.google.com/")
	add("a", "/x", "")
	add("b", "/x", "https://www.google.com/")
	add("b", "/y", "")
	view := rows[len(rows)-1] // b views a product on /y
	view.Event.ID = event.NewID(view.Event.TimeMs)
	view.Event.F[event.Type] = []byte("product_view")
	view.Event.F[event.Name] = []byte("Hat")
	view.Event.Props = []event.Prop{{Key: []byte("id"), Value: []byte("H-1")}}
	rows = append(rows, view)
	sub := rows[0] // a subscribes, as the shop's backend says (a browser's word joins no one: 0020)
	sub.Event.ID, sub.Event.Ingest = event.NewID(sub.Event.TimeMs), event.IngestAPI
	sub.Event.F[event.Type] = []byte("subscribe")
	sub.Event.F[event.UserID] = []byte("a@s.example")
	sub.Event.Props = []event.Prop{{Key: []byte("lists"), Value: []byte("news,tips")}}
	enrich.New(1).Enrich(&sub.Event, &sub.Enriched)
	rows = append(rows, sub)
	if err := store.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := chsql.Migrate(ctx, store.DB()); err != nil {
		t.Fatal(err)
	}
	checks := map[string]uint64{
		"SELECT countMerge(pageviews) FROM pages_daily WHERE url_path = '/x'":               3,
		"SELECT uniqMerge(visitors) FROM pages_daily WHERE url_path = '/x'":                 2,
		"SELECT countMerge(pageviews) FROM pages_daily":                                     4,
		"SELECT uniqMerge(visitors) FROM sources_daily WHERE source = 'google'":             2,
		"SELECT countIfMerge(pageviews) FROM sources_daily":                                 4,
		"SELECT count() FROM (SELECT session_id FROM session_parts GROUP BY session_id)":    2,
		"SELECT countIfMerge(pageviews) FROM session_parts WHERE session_id = 'a-s'":        2,
		"SELECT uniqIfMerge(sessions) FROM visitor_profiles WHERE visitor_id = 'b'":         1,
		"SELECT count() FROM (SELECT visitor_id FROM visitor_profiles GROUP BY visitor_id)": 2,
		"SELECT countIfMerge(pageviews) FROM visitor_profiles WHERE visitor_id = 'b'":       2,
		"SELECT uniqExact(visitor_id) FROM identities WHERE visitor_id = 'a'":               1,
		"SELECT countMerge(views) FROM interest_visitors WHERE interest = '/x'":             3,
		"SELECT count() FROM consents WHERE visitor_id = 'a' AND granted = 1":               2,
	}
	for q, want := range checks {
		if got := stacktest.Count(t, store, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	if got := stacktest.Count(t, store, gone); got != 0 {
		t.Errorf("%d of sessions, sessions_mv, hours_touched and hours_touched_mv are left", got)
	}
}

// TestAlterColumnAgain: ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS
// nor DROP COLUMN IF EXISTS; a migration cut short after its ALTERs runs
// them again, and the runner must take the "column exists" and "column
// not found" answers as done. The ALTERs of a table a later migration
// drops (0018's of sessions, dropped by 0031) are left out: the migrated
// database has no such table, and that migration runs again only where
// the later one has not run yet (TestEventOrderMigration runs 0018 again
// on its tables).
func TestAlterColumnAgain(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ms, _ := chsql.Migrations()
	var adds, drops, dropped int
	for i, m := range ms {
		for _, s := range m.Statements {
			stmt := s.SQL()
			if !strings.Contains(stmt, "ADD COLUMN") && !strings.Contains(stmt, "DROP COLUMN") {
				continue
			}
			if table := strings.Fields(stmt)[2]; droppedAfter(ms[i+1:], table) {
				if n := stacktest.Count(t, store, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = '"+table+"'"); n != 0 {
					t.Errorf("%s: a later migration drops %s, yet the migrated database has it", stmt, table)
				}
				dropped++
				continue
			}
			if strings.Contains(stmt, "ADD COLUMN") {
				adds++
			} else {
				drops++
			}
			err := store.DB().Driver().Exec(context.Background(), stmt)
			if err == nil || !chsql.ColumnDone(stmt, err) {
				t.Errorf("running %q again: %v, want the answer the runner takes as done", stmt, err)
			}
		}
	}
	if adds == 0 || drops == 0 {
		t.Fatalf("%d ADD COLUMN and %d DROP COLUMN statements run again (and %d of tables dropped since), want some of each",
			adds, drops, dropped)
	}
}

// droppedAfter says whether one of the migrations ms drops table and none
// of them makes it again after.
func droppedAfter(ms []chsql.Migration, table string) bool {
	gone := false
	for _, m := range ms {
		for _, s := range m.Statements {
			if c := reTableDDL.FindStringSubmatch(s.SQL()); c != nil && c[2] == table {
				gone = strings.EqualFold(c[1], "DROP")
			}
		}
	}
	return gone
}

// reTableDDL is a statement that makes or drops a table (or view): the
// verb, the name.
var reTableDDL = regexp.MustCompile(`(?i)^(CREATE|DROP)\s+(?:MATERIALIZED\s+VIEW|TABLE)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(\w+)`)
