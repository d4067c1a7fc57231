package profiles

import (
	"context"
	"fmt"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/tests/stacktest"
)

var (
	// finalSQL is the people table read through FINAL alone, as storedSQL
	// read it before the base: what the two halves must give.
	finalSQL = `SELECT ` + personColumns + ` FROM (
    SELECT ` + personColumns + `, deleted FROM people FINAL WHERE site_id = @site
) WHERE deleted = 0`
	qTestBase       = chsql.New("profiles.test_base", `SELECT `+baseVersion)
	qTestSuperseded = chsql.New("profiles.test_superseded", `SELECT count() FROM people
WHERE site_id = @site AND version <= @base AND person_key IN (SELECT person_key FROM people WHERE site_id = @site AND version > @base)`)
	insertTestRow = chsql.New("profiles.test_insert_person", `INSERT INTO people (site_id, person_key, orders, deleted, version)`)
)

// TestCompactedPeople: the people table read in two halves split at the
// site's base (storedSQL) holds the rows FINAL alone gives, before any
// compaction, after one, after refreshes that write newer rows of people
// below the base (more orders, a visitor joining a person: a tombstone),
// and when a key has two rows below the base the compaction would move it
// to (the base then stays).
func TestCompactedPeople(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	s := NewStore(store.DB(), DefaultRules)
	ctx := context.Background()
	const site = "shop"
	day := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)
	hit := func(at time.Duration, visitor, typ, user string, revenue int64) stacktest.Hit {
		f := map[event.Field]string{event.Site: site, event.Type: typ, event.VisitorID: visitor, event.URL: "https://shop.example/p"}
		h := stacktest.Hit{At: day.Add(at), Fields: f, Revenue: revenue}
		if user != "" {
			f[event.UserID], h.Ingest = user, event.IngestAPI
		}
		if typ == "purchase" {
			f[event.OrderID] = fmt.Sprintf("o-%s-%d", visitor, at)
		}
		return h
	}
	same := func(step string) int {
		t.Helper()
		q := s.Query(site)
		stored, args, err := q.SQL()
		if err != nil {
			t.Fatal(err)
		}
		want := qPeople.With(map[string]string{"rows": finalSQL, "where": ""}).SQL()
		got, wanted := peopleOf(t, s, stored, args), peopleOf(t, s, want, args)
		if fmt.Sprint(got) != fmt.Sprint(wanted) {
			t.Errorf("%s: people in two halves\n%+v\nwant, through FINAL,\n%+v", step, got, wanted)
		}
		return len(got)
	}
	refresh := func(step string, hits ...stacktest.Hit) {
		t.Helper()
		stacktest.Insert(t, store, hits...)
		if _, err := s.Refresh(ctx, site); err != nil {
			t.Fatalf("%s: refresh: %v", step, err)
		}
	}
	base := func() uint64 {
		t.Helper()
		var v uint64
		if err := s.db.QueryRow(ctx, qTestBase, chsql.Args{"site": site}).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	var first []stacktest.Hit
	for i := 1; i <= 6; i++ {
		first = append(first, hit(time.Duration(i)*time.Minute, fmt.Sprintf("v%d", i), "pageview", "", 0))
	}
	first = append(first, hit(10*time.Minute, "v1", "purchase", "", 30_000_000))
	refresh("first events", first...)
	refresh("v3 again", hit(20*time.Minute, "v3", "pageview", "", 0), hit(21*time.Minute, "v3", "add_to_cart", "", 0))
	if n := same("no base"); n != 6 {
		t.Errorf("no base: %d people, want 6", n)
	}
	if base() != 0 {
		t.Fatalf("a base before any compaction: %d", base())
	}

	// A base is a whole second: compact from the next one, when every row
	// written so far is at or below it.
	compact := func() (Compaction, error) {
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		return s.CompactUpTo(ctx, time.Now())
	}
	c, err := compact()
	if err != nil {
		t.Fatal(err)
	}
	b1 := base()
	if c.Moved != 1 || c.Held != 0 || b1 == 0 {
		t.Fatalf("compaction %+v, base %d: want the site's base moved", c, b1)
	}
	same("compacted")

	// Newer rows of people below the base: v1 orders again, v2 signs up
	// (its anonymous row becomes a tombstone, the person a user id), v5
	// signs in as the same user, v7 is new.
	refresh("after the base",
		hit(30*time.Minute, "v1", "purchase", "", 12_500_000),
		hit(31*time.Minute, "v2", "sign_up", "ann@shop.example", 0),
		hit(32*time.Minute, "v5", "pageview", "ann@shop.example", 0),
		hit(33*time.Minute, "v7", "pageview", "", 0))
	var superseded uint64
	if err := s.db.QueryRow(ctx, qTestSuperseded, chsql.Args{"site": site, "base": b1}).Scan(&superseded); err != nil {
		t.Fatal(err)
	}
	if superseded < 3 {
		t.Errorf("%d rows below the base have a newer row, want at least 3 (v1, v2, v5): the test reads no superseded row", superseded)
	}
	if n := same("refreshed over the base"); n != 6 {
		t.Errorf("refreshed over the base: %d people, want 6 (v2 and v5 are ann)", n)
	}

	// A key with two rows below where the base would go: a writer late
	// past the margin, or a merge not done. The base must stay.
	batch, err := s.db.PrepareBatch(ctx, insertTestRow)
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.Append(site, "v7", uint64(99), uint8(0), uint64(time.Now().UnixNano())); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	c, err = s.moveBases(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c.Moved != 0 || c.Held != 1 || base() != b1 {
		t.Errorf("two rows of v7 below the new base: compaction %+v, base %d (was %d): want it held", c, base(), b1)
	}
	same("base held")

	c, err = compact()
	if err != nil {
		t.Fatal(err)
	}
	if c.Moved != 1 || base() <= b1 {
		t.Errorf("merged: compaction %+v, base %d (was %d): want it moved", c, base(), b1)
	}
	same("merged again")
}

// peopleOf reads the people query sql, in person key order.
func peopleOf(t *testing.T, s *Store, sql string, args chsql.Args) []Person {
	t.Helper()
	rows, err := s.db.Query(context.Background(), qTestPeople.With(map[string]string{"people": sql}), args)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Person
	for rows.Next() {
		p, err := Scan(rows)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
