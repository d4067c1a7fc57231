package profiles

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/tests/stacktest"
)

var (
	qTestSuperseded = chsql.New("profiles.test_superseded", `SELECT count() FROM people
WHERE site_id = @site AND version <= @base AND person_key IN (SELECT person_key FROM people WHERE site_id = @site AND version > @base)`)
	insertTestRow = chsql.New("profiles.test_insert_person", `INSERT INTO people (site_id, person_key, orders, deleted, version)`)
	qTestCount    = chsql.New("profiles.test_count_people", `SELECT count(), uniqExact(person_key) FROM ({{people}})`)
)

// TestCompactedPeople: the people table read in two halves split at the
// site's base (storedSQL) holds the rows FINAL alone gives, before any
// compaction, after one, after refreshes that write newer rows of people
// below the base (more orders, a visitor joining a person: a tombstone),
// and while a site's rows below where the base would go still hold a
// person twice (that site's base then stays; another site's moves).
func TestCompactedPeople(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	s := NewStore(store.DB(), DefaultRules)
	s.maxNewer = 1 // six people: any refresh writes more than a tenth
	ctx := context.Background()
	const shop, other = "shop", "other"
	day := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)
	hit := func(site string, at time.Duration, visitor, typ, user string, revenue int64) stacktest.Hit {
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
	base := func(site string) uint64 {
		t.Helper()
		var v, newer, rows uint64
		if err := s.db.QueryRow(ctx, qBase, chsql.Args{"site": site, "kind": BaseKind}).Scan(&v, &newer, &rows); err != nil {
			t.Fatal(err)
		}
		return v
	}
	same := func(site, step string) int {
		t.Helper()
		q := s.Query(site)
		if err := s.AtBase(ctx, q); err != nil {
			t.Fatal(err)
		}
		if (q.base > 0) != (base(site) > 0 && s.maxNewer == 1) {
			t.Errorf("%s, %s: read at base %d, site's base %d (max share above it %v)", site, step, q.base, base(site), s.maxNewer)
		}
		stored, args, err := q.SQL()
		if err != nil {
			t.Fatal(err)
		}
		want := qPeople.With(map[string]string{"rows": finalSQL, "where": ""}).SQL()
		finalArgs := maps.Clone(args)
		delete(finalArgs, "base")
		got, wanted := peopleOf(t, s, stored, args), peopleOf(t, s, want, finalArgs)
		if fmt.Sprint(got) != fmt.Sprint(wanted) {
			t.Errorf("%s, %s: people in two halves\n%+v\nwant, through FINAL,\n%+v", site, step, got, wanted)
		}
		return len(got)
	}
	refresh := func(site, step string, hits ...stacktest.Hit) {
		t.Helper()
		stacktest.Insert(t, store, hits...)
		if _, err := s.Refresh(ctx, site); err != nil {
			t.Fatalf("%s, %s: refresh: %v", site, step, err)
		}
	}

	var first []stacktest.Hit
	for i := 1; i <= 6; i++ {
		first = append(first, hit(shop, time.Duration(i)*time.Minute, fmt.Sprintf("v%d", i), "pageview", "", 0))
	}
	first = append(first, hit(shop, 10*time.Minute, "v1", "purchase", "", 30_000_000))
	refresh(shop, "first events", first...)
	refresh(shop, "v3 again", hit(shop, 20*time.Minute, "v3", "pageview", "", 0), hit(shop, 21*time.Minute, "v3", "add_to_cart", "", 0))
	refresh(other, "first events", hit(other, time.Minute, "w1", "pageview", "", 0), hit(other, 2*time.Minute, "w2", "purchase", "", 5_000_000))
	if n := same(shop, "no base"); n != 6 {
		t.Errorf("no base: %d people, want 6", n)
	}
	if base(shop) != 0 {
		t.Fatalf("a base before any compaction: %d", base(shop))
	}

	c, err := s.CompactUpTo(ctx, nextSecond())
	if err != nil {
		t.Fatal(err)
	}
	b1 := base(shop)
	if c.Moved != 2 || c.Held != 0 || b1 == 0 || base(other) != b1 {
		t.Fatalf("compaction %+v, bases %d and %d: want both sites' bases moved", c, b1, base(other))
	}
	same(shop, "compacted")
	same(other, "compacted")

	// Newer rows of people below the base: v1 orders again, v2 signs up
	// (its anonymous row becomes a tombstone, the person a user id), v5
	// signs in as the same user, v7 is new.
	refresh(shop, "after the base",
		hit(shop, 30*time.Minute, "v1", "purchase", "", 12_500_000),
		hit(shop, 31*time.Minute, "v2", "sign_up", "ann@shop.example", 0),
		hit(shop, 32*time.Minute, "v5", "pageview", "ann@shop.example", 0),
		hit(shop, 33*time.Minute, "v7", "pageview", "", 0))
	var superseded uint64
	if err := s.db.QueryRow(ctx, qTestSuperseded, chsql.Args{"site": shop, "base": b1}).Scan(&superseded); err != nil {
		t.Fatal(err)
	}
	if superseded < 3 {
		t.Errorf("%d rows below the base have a newer row, want at least 3 (v1, v2, v5): the test reads no superseded row", superseded)
	}
	if n := same(shop, "refreshed over the base"); n != 6 {
		t.Errorf("refreshed over the base: %d people, want 6 (v2 and v5 are ann)", n)
	}
	// More than a tenth of the shop's rows are above its base: the
	// default reads them through FINAL alone, with the same answer.
	s.maxNewer = defaultMaxNewer
	if n := same(shop, "too many rows above the base"); n != 6 {
		t.Errorf("too many rows above the base: %d people, want 6", n)
	}
	s.maxNewer = 1

	// Without a merge, the shop's rows below a new base hold v1, v2 and
	// v5 twice: its base stays; the other site's rows are one a key, and
	// its base moves (each site reads its own).
	c, err = s.moveBases(ctx, nextSecond())
	if err != nil {
		t.Fatal(err)
	}
	if c.Moved != 1 || c.Held != 1 || base(shop) != b1 || base(other) <= b1 {
		t.Errorf("shop's people twice below the new base: compaction %+v, bases %d (was %d) and %d: want the shop's held, the other's moved", c, base(shop), b1, base(other))
	}
	same(shop, "base held")
	same(other, "base moved")

	c, err = s.CompactUpTo(ctx, nextSecond())
	if err != nil {
		t.Fatal(err)
	}
	if c.Moved != 2 || base(shop) <= b1 {
		t.Errorf("merged: compaction %+v, base %d (was %d): want it moved", c, base(shop), b1)
	}
	same(shop, "merged again")
}

// TestPeopleReadWhileRefreshed: a person is read once, and every person
// is read, while newer rows of them land during the read (a refresh's
// insert), from 20 reads of 100,000 people with 2,000 rows inserted
// beside each. The newer rows are the right side of one join: a read of
// the older rows less the newer rows' keys, then the newer rows read
// again, showed the people of an insert in between twice.
func TestPeopleReadWhileRefreshed(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	s := NewStore(store.DB(), DefaultRules)
	s.maxNewer = 1
	ctx := context.Background()
	const people = 100_000
	version := uint64(time.Now().Add(-time.Hour).UnixNano())
	insert := func(from, n int, v uint64) {
		t.Helper()
		b, err := s.db.PrepareBatch(ctx, insertTestRow)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < from+n; i++ {
			if err := b.Append("shop", fmt.Sprintf("p%06d", i%people), uint64(i), uint8(0), v); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	insert(0, people, version)
	if c, err := s.CompactUpTo(ctx, time.Unix(0, int64(version)).Add(time.Second)); err != nil || c.Moved != 1 {
		t.Fatalf("compaction %+v, %v: want the base moved", c, err)
	}
	insert(0, 1000, version+2e9) // newer rows above the base before the reads
	q := s.Query("shop")
	if err := s.AtBase(ctx, q); err != nil {
		t.Fatal(err)
	}
	stored, args, err := q.SQL()
	if err != nil {
		t.Fatal(err)
	}
	count := qTestCount.With(map[string]string{"people": stored})
	for round := 0; round < 20; round++ {
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(time.Duration(round) * time.Millisecond)
			insert(round*2000, 2000, version+uint64(3+round)*1e9)
		}()
		var n, keys uint64
		if err := s.db.QueryRow(ctx, count, args).Scan(&n, &keys); err != nil {
			t.Fatal(err)
		}
		<-done
		if n != people || keys != people {
			t.Errorf("round %d: %d rows of %d people read, want %d of %d", round, n, keys, people, people)
		}
	}
}

// nextSecond waits for the next second and returns the time then: a base
// is a whole second (CompactUpTo truncates it), so one taken then has
// every row written so far at or below it.
func nextSecond() time.Time {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	return time.Now()
}

// peopleOf reads the people query sql, in person key order.
func peopleOf(t testing.TB, s *Store, sql string, args chsql.Args) []Person {
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
