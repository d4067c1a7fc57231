package profiles

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/refresh"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

type journey struct {
	t     *testing.T
	store *chstore.Store
	s     *Store
	site  string
}

func (j *journey) hit(at time.Time, visitor, typ string, more map[event.Field]string, revenue int64, props ...string) {
	f := map[event.Field]string{event.Site: j.site, event.Type: typ, event.VisitorID: visitor, event.URL: "https://shop.example/"}
	for k, v := range more {
		f[k] = v
	}
	h := stacktest.Hit{At: at, Fields: f, Revenue: revenue, Props: props}
	if f[event.UserID] != "" {
		// Who a visitor is, the shop's backend says: proven, so it joins
		// the person (a browser's word is a claim, joining no one).
		h.Ingest = event.IngestAPI
	}
	stacktest.Insert(j.t, j.store, h)
}

// expect checks the person ref names as classified at now.
func (j *journey) expect(step string, now time.Time, ref Ref, class, stage string, check func(Person) string) Person {
	j.t.Helper()
	j.s.now = func() time.Time { return now }
	p, _, err := j.s.Get(context.Background(), j.site, ref)
	if err != nil {
		j.t.Fatalf("%s: %v", step, err)
	}
	if p.Class != class || p.Stage != stage {
		j.t.Errorf("%s: class %s stage %s, want %s %s (%+v)", step, p.Class, p.Stage, class, stage, p)
	}
	if check != nil {
		if msg := check(p); msg != "" {
			j.t.Errorf("%s: %s (%+v)", step, msg, p)
		}
	}
	j.sameStored(step)
	return p
}

// sameStored checks that the people table, refreshed, holds exactly the
// people computed from every visitor id of the site: the same rows, none
// left over from a visitor id that has since joined a person.
func (j *journey) sameStored(step string) {
	j.t.Helper()
	// A few people: every refresh writes more than a tenth of their rows,
	// which the default reads through FINAL alone; read in two halves.
	j.s.maxNewer = 1
	ctx := context.Background()
	if _, err := j.s.Refresh(ctx, j.site); err != nil {
		j.t.Fatalf("%s: refresh: %v", step, err)
	}
	var all []string
	err := j.s.each(ctx, qTestVisitors, chsql.Args{"site": j.site}, func(r scanner) error {
		var v string
		err := r.Scan(&v)
		all = append(all, v)
		return err
	})
	if err != nil {
		j.t.Fatal(err)
	}
	live, stored := j.s.Query(j.site), j.s.Query(j.site)
	var want []Person
	err = j.s.WithVisitors(context.Background(), all, func(in Visitors) error {
		live.visitorSet = in.SQL()
		want = j.people(live)
		return nil
	})
	if err != nil {
		j.t.Fatal(err)
	}
	if err := j.s.AtBase(ctx, stored); err != nil {
		j.t.Fatal(err)
	}
	got := j.people(stored)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		j.t.Errorf("%s: people table\n%+v\nwant, computed from the events,\n%+v", step, got, want)
	}
	// Compacted, the next step reads what this one wrote below the
	// site's base and its own refresh's rows above it (storedSQL).
	if _, err := j.s.CompactUpTo(ctx, nextSecond()); err != nil {
		j.t.Fatalf("%s: compact: %v", step, err)
	}
	if err := j.s.AtBase(ctx, stored); err != nil {
		j.t.Fatal(err)
	}
	if got := j.people(stored); fmt.Sprint(got) != fmt.Sprint(want) {
		j.t.Errorf("%s: people table, compacted\n%+v\nwant, computed from the events,\n%+v", step, got, want)
	}
}

var (
	qTestVisitors = chsql.New("profiles.test_visitors", "SELECT DISTINCT visitor_id FROM visitor_profiles WHERE site_id = @site")
	qTestPeople   = chsql.New("profiles.test_people", "{{people}}\nORDER BY person_key")
)

func (j *journey) people(q *Query) []Person {
	j.t.Helper()
	sql, args, err := q.SQL()
	if err != nil {
		j.t.Fatal(err)
	}
	return peopleOf(j.t, j.s, sql, args)
}

// TestJourney walks one person from anonymous visitor to inactive loyal
// customer on two devices, checking the class and stage at each step, then
// erases them.
func TestJourney(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	j := &journey{t: t, store: store, s: NewStore(store.DB(), DefaultRules), site: "shop"}
	day := 24 * time.Hour
	t0 := time.Now().UTC().Truncate(time.Second).Add(-300 * day)
	a := Ref{VisitorID: "dev-a"}

	j.hit(t0, "dev-a", "pageview", map[event.Field]string{event.URL: "https://shop.example/shoes/trail", event.SessionID: "s1"}, 0)
	j.expect("first visit", t0, a, "visitor", "attraction", func(p Person) string {
		if p.UserID != "" || p.Pageviews != 1 || p.Devices != 1 {
			return "want one anonymous page view"
		}
		return ""
	})
	j.hit(t0.Add(day), "dev-a", "pageview", map[event.Field]string{event.URL: "https://shop.example/hats", event.SessionID: "s2"}, 0)
	j.expect("returns", t0.Add(day), a, "visitor", "attraction", func(p Person) string {
		if p.Sessions != 2 || p.Pageviews != 2 {
			return "want 2 sessions, 2 page views"
		}
		return ""
	})
	// Device B browses anonymously before anyone knows it is the same person.
	j.hit(t0.Add(day), "dev-b", "pageview", map[event.Field]string{event.URL: "https://shop.example/shoes/city", event.SessionID: "s3"}, 0)

	j.hit(t0.Add(2*day), "dev-a", "subscribe", map[event.Field]string{event.UserID: " Ann@Shop.Example "}, 0, "lists", "newsletter")
	ann := Ref{UserID: "ann@shop.example"}
	j.expect("subscribes", t0.Add(2*day), ann, "subscriber", "acquisition", func(p Person) string {
		if p.Key != "ann@shop.example" || p.UserID != "ann@shop.example" || !p.Subscribed {
			return "want the normalised e-mail as key and user id, subscribed"
		}
		return ""
	})
	j.expect("visitor id finds the person", t0.Add(2*day), a, "subscriber", "acquisition", nil)

	j.hit(t0.Add(3*day), "dev-a", "add_to_cart", nil, 0, "id", "TR-1", "category", "running")
	j.expect("adds to cart", t0.Add(3*day), ann, "prospect", "qualification", nil)

	j.hit(t0.Add(3*day), "dev-a", "purchase", map[event.Field]string{event.OrderID: "o1", event.Currency: "EUR"}, 29_900_000)
	j.expect("orders", t0.Add(3*day), ann, "customer", "conversion", func(p Person) string {
		if p.Orders != 1 || p.Revenue != 29.9 || !p.FirstOrder.Equal(t0.Add(3*day)) {
			return "want 1 order of 29.90"
		}
		return ""
	})
	// The second order comes from the shop's backend, which knows only the
	// customer's e-mail: it joins the person through the 'u:' visitor id.
	j.hit(t0.Add(10*day), "", "purchase", map[event.Field]string{event.UserID: "ann@shop.example", event.OrderID: "o2"}, 50_000_000)
	j.expect("orders again", t0.Add(10*day), ann, "customer", "retention", func(p Person) string {
		if p.Orders != 2 || p.Devices != 2 {
			return "want 2 orders over 2 visitor ids (dev-a, u:ann@shop.example)"
		}
		return ""
	})
	j.hit(t0.Add(20*day), "dev-a", "purchase", map[event.Field]string{event.OrderID: "o3"}, 10_000_000)
	// The same order sent again (another event id) counts once, revenue too.
	j.hit(t0.Add(20*day), "dev-a", "purchase", map[event.Field]string{event.OrderID: "o3"}, 10_000_000)
	j.expect("third order", t0.Add(20*day), ann, "loyal", "retention", func(p Person) string {
		if p.Orders != 3 || p.Revenue != 89.9 || !p.LastOrder.Equal(t0.Add(20*day)) {
			return "want 3 distinct orders, 89.90 of revenue"
		}
		return ""
	})
	j.expect("89 days without an order", t0.Add(109*day), ann, "loyal", "retention", nil)
	j.expect("90 days without an order", t0.Add(110*day), ann, "loyal", "reactivation", func(p Person) string {
		if p.DaysOrdered != 90 {
			return fmt.Sprintf("days since last order %d, want 90", p.DaysOrdered)
		}
		return ""
	})

	// Device B identifies as Ann: its anonymous history joins her. A later
	// identify on B with another address does not move it away.
	j.hit(t0.Add(30*day), "dev-b", "identify", map[event.Field]string{event.UserID: "ann@shop.example"}, 0)
	j.hit(t0.Add(31*day), "dev-b", "identify", map[event.Field]string{event.UserID: "someone@else.example"}, 0)
	j.expect("second device", t0.Add(31*day), Ref{VisitorID: "dev-b"}, "loyal", "retention", func(p Person) string {
		if p.Key != "ann@shop.example" || p.Devices != 3 || p.Pageviews != 3 || !p.FirstSeen.Equal(t0) {
			return "want dev-b's page view in Ann's profile, 3 visitor ids"
		}
		return ""
	})
	_, visitors, _ := j.s.Resolve(context.Background(), "shop", ann)
	if want := []string{"dev-a", "dev-b", "u:ann@shop.example"}; !slices.Equal(visitors, want) {
		t.Errorf("visitor ids %v, want %v", visitors, want)
	}

	// Manual changes survive recomputation.
	ctx := context.Background()
	j.s.now = time.Now
	pro, vip, bad := "", "loyal", "gold\n" // the shop's own words, but a control character
	if _, err := j.s.SetOverride(ctx, "shop", "dev-c", &vip, []string{"pro"}); err != nil {
		t.Fatal(err)
	}
	j.hit(t0.Add(40*day), "dev-c", "pageview", nil, 0)
	j.expect("manual class", t0.Add(40*day), Ref{VisitorID: "dev-c"}, "loyal", "attraction", func(p Person) string {
		if !slices.Equal(p.Populations, []string{"pro"}) {
			return "want population pro"
		}
		return ""
	})
	if _, err := j.s.SetOverride(ctx, "shop", "dev-c", &pro, nil); err != nil {
		t.Fatal(err)
	}
	j.expect("manual class cleared, population kept", t0.Add(40*day), Ref{VisitorID: "dev-c"}, "visitor", "attraction", func(p Person) string {
		if !slices.Equal(p.Populations, []string{"pro"}) {
			return "want population pro"
		}
		return ""
	})
	if _, err := j.s.SetOverride(ctx, "shop", "dev-c", &bad, nil); err == nil {
		t.Errorf("class %q accepted", bad)
	}
	if _, err := j.s.SetOverride(ctx, "shop", "ann@shop.example", nil, []string{"reseller"}); err != nil {
		t.Fatal(err)
	}

	var cs []Consent
	err := j.s.WithVisitors(ctx, visitors, func(in Visitors) (err error) {
		cs, err = j.s.Consents(ctx, "shop", in)
		return err
	})
	if err != nil || len(cs) != 1 || cs[0].Purpose != "newsletter" || !cs[0].Granted {
		t.Errorf("consents %+v %v", cs, err)
	}
	of, err := j.s.ConsentsOf(ctx, "shop", []string{"ann@shop.example", "dev-c", "nobody"})
	if err != nil || len(of) != 1 || !slices.Equal(of["ann@shop.example"], []string{"newsletter"}) {
		t.Errorf("consents of ann and dev-c: %v %v", of, err)
	}
	x, err := j.s.Export(ctx, "shop", ann)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Events) != 11 || !slices.Equal(x.Override.Populations, []string{"reseller"}) || len(x.Ledger) != 1 {
		t.Errorf("export: %d events, manual %+v, ledger %+v", len(x.Events), x.Override, x.Ledger)
	}

	// Erasure: no row in any table may still name Ann or her devices.
	names := []string{"dev-a", "dev-b", "u:ann@shop.example", "ann@shop.example"}
	if n := rowsNaming(t, store, names); n == 0 {
		t.Fatal("before erasure no row names Ann: the check below would prove nothing")
	}
	e, err := j.s.Erase(ctx, "shop", Ref{VisitorID: "dev-b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Visitors) != 3 || len(e.Sessions) != 3 {
		t.Errorf("erasure %+v", e)
	}
	if n := rowsNaming(t, store, names); n != 0 {
		t.Errorf("%d rows still name Ann after erasure", n)
	}
	if _, _, err := j.s.Get(ctx, "shop", ann); !errors.Is(err, ErrNotFound) {
		t.Errorf("erased person: %v", err)
	}
	j.expect("others stay", t0.Add(40*day), Ref{VisitorID: "dev-c"}, "visitor", "attraction", nil)
}

// rowsNaming counts the rows of every table of the database with a String
// or Array(String) column holding one of names: a table added later is
// covered without changing the test.
func rowsNaming(t *testing.T, store *chstore.Store, names []string) uint64 {
	t.Helper()
	ctx := context.Background()
	rows, err := store.DB().Driver().Query(ctx, `SELECT table, name, type FROM system.columns
WHERE database = currentDatabase() AND (type = 'String' OR type = 'Array(String)')
AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND engine NOT LIKE '%View')`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ table, name, typ string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.table, &c.name, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	var quoted []string
	for _, n := range names {
		quoted = append(quoted, "'"+n+"'")
	}
	set := "(" + strings.Join(quoted, ", ") + ")"
	var total uint64
	for _, c := range cols {
		cond := c.name + " IN " + set
		if c.typ == "Array(String)" {
			cond = "hasAny(" + c.name + ", [" + strings.Join(quoted, ", ") + "])"
		}
		n := stacktest.Count(t, store, "SELECT count() FROM "+c.table+" WHERE "+cond)
		if n > 0 {
			t.Logf("%s.%s: %d rows", c.table, c.name, n)
		}
		total += n
	}
	return total
}

// TestRefreshWholePerson: an event on one device recomputes the person
// from all their devices, and a visitor id that joins a person loses its
// anonymous row, even once the earlier events are outside the window a
// refresh looks back on.
func TestRefreshWholePerson(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	j := &journey{t: t, store: store, s: NewStore(store.DB(), DefaultRules), site: "shop"}
	t0 := time.Now().UTC().Truncate(time.Second).Add(-48 * time.Hour)
	ann := map[event.Field]string{event.UserID: "ann@shop.example", event.OrderID: "o1"}
	j.hit(t0, "dev-a", "identify", map[event.Field]string{event.UserID: "ann@shop.example"}, 0)
	j.hit(t0, "", "purchase", ann, 30_000_000)
	j.hit(t0, "dev-c", "pageview", nil, 0)
	j.sameStored("first refresh")
	if n := stacktest.Count(t, store, "SELECT count() FROM people FINAL WHERE deleted = 0"); n != 2 {
		t.Fatalf("%d people stored, want ann and dev-c", n)
	}
	// A refresh once the first events are older than the window it looks
	// back on, so that the next one sees only the new events.
	time.Sleep(refresh.TouchedSlack + 1100*time.Millisecond)
	j.sameStored("nothing new")
	j.hit(t0.Add(time.Hour), "dev-a", "purchase", map[event.Field]string{event.OrderID: "o2"}, 20_000_000)
	j.hit(t0.Add(time.Hour), "dev-c", "sign_up", map[event.Field]string{event.UserID: "bob@shop.example"}, 0)
	j.sameStored("second refresh")
	p, _, err := j.s.Get(context.Background(), "shop", Ref{UserID: "ann@shop.example"})
	if err != nil || p.Orders != 2 || p.Devices != 2 || p.Revenue != 50 {
		t.Errorf("ann: %+v %v, want 2 orders, 50.00 over 2 devices", p, err)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM people FINAL WHERE deleted = 0 AND person_key IN ('dev-c', 'bob@shop.example')"); n != 1 {
		t.Errorf("%d rows for dev-c and bob, want bob's only", n)
	}
	// Touched visitor ids past a quarter of the people: the refresh
	// recomputes everyone.
	j.s.fewTouched = 0
	time.Sleep(refresh.TouchedSlack + 1100*time.Millisecond)
	j.hit(t0.Add(2*time.Hour), "dev-d", "pageview", nil, 0)
	j.hit(t0.Add(2*time.Hour), "dev-a", "pageview", nil, 0)
	j.sameStored("full refresh")
	var full uint8
	if err := store.DB().Driver().QueryRow(context.Background(), "SELECT argMax(full, upto) FROM refreshes WHERE site_id = 'shop' AND kind = 'people'").Scan(&full); err != nil || full != 1 {
		t.Errorf("last refresh full %d %v, want 1", full, err)
	}
	none := j.s.Query("shop")
	err = j.s.WithVisitors(context.Background(), []string{}, func(in Visitors) error {
		none.visitorSet = in.SQL()
		if got := j.people(none); len(got) != 0 {
			t.Errorf("people of no visitor ids: %+v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWhere: conditions share the query's parameter names; a name bound
// again to another value is refused, the same value is not.
func TestWhere(t *testing.T) {
	q := (&Store{rules: DefaultRules, now: time.Now}).Query("shop")
	if err := q.Where("orders >= @min_orders", chsql.Args{"min_orders": 2}); err != nil {
		t.Fatal(err)
	}
	if err := q.Where("orders <= @max_orders AND has(populations, @pop)", chsql.Args{"max_orders": 5, "pop": "pro", "site": "shop"}); err != nil {
		t.Fatalf("same values refused: %v", err)
	}
	if err := q.Where("orders != @min_orders", chsql.Args{"min_orders": 3}); err == nil {
		t.Error("@min_orders bound to 2 and 3")
	}
	if err := q.Where("user_id = @site", chsql.Args{"site": "other"}); err == nil {
		t.Error("@site bound to the query's site and another")
	}
	st, args, err := q.Statement()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chsql.Bind(st.SQL(), args); err != nil {
		t.Errorf("bind: %v", err)
	}
	if !strings.HasSuffix(st.SQL(), "WHERE (orders >= @min_orders) AND (orders <= @max_orders AND has(populations, @pop))") || st.Name() != "profiles.people" {
		t.Errorf("%s: %s", st.Name(), st.SQL())
	}
	q.visitorSet = tableKeys{table: "viewing_1_ab"}.set(kindProfile)
	st, args, err = q.Statement()
	if err != nil || strings.Contains(st.SQL(), "@visitors") || !strings.Contains(st.SQL(), "site_id = @site AND visitor_id IN (SELECT key FROM viewing_1_ab WHERE kind = 'p')") {
		t.Errorf("a person's visitors: %v %s", err, st.SQL())
	}
	if _, err := chsql.Bind(st.SQL(), args); err != nil {
		t.Errorf("bind with a person's visitors: %v", err)
	}
}
